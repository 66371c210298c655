"""Evaluation: backtests of the plans against simple alternatives, the impact of a
surge against matched controls, patrol dosage, and precision stop and search."""
