"""lmsctl: declarative coursework and grades for school LMSs, through Clever LMS Connect."""

__version__ = "0.1.0"

__all__ = ["__version__"]
