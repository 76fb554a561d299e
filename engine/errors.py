"""Errors whose message is written for the person using Trainyard, not for a programmer."""


class UserError(Exception):
    """Something the user can fix; str(error) says what is wrong and how to fix it."""


class DataError(UserError):
    """A data set could not be read or cannot be trained on."""


class TrainingError(UserError):
    """Training stopped for a reason the user can act on (for example a loss that became NaN)."""
