"""Shared checks for the kit's estimators (scikit-learn's contract), for tests."""
