"""Test code shared by more than one test folder."""
