"""Recommendations: surge patrols, cameras, street targets, backtest, impact."""
