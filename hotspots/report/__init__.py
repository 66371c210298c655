"""Printed and shared outputs: ward maps, crime packs, rankings, partner views."""
