"""Planning: surge patrols under an officer-hour budget, NOMAD camera sites and
street targets, from a study's forecasts and hot spot evidence."""
