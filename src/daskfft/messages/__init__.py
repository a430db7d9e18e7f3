"""Every sentence daskfft says to its user, in one place.

Errors, warnings and log lines at INFO and above are ``str.format`` templates here, named
for the situation and grouped by the layer that says them: :mod:`.api` (the lazy API, its
kernels and validators), :mod:`.io` (reading and writing files), :mod:`.cluster`,
:mod:`.run` (planning, outputs, pictures, alignment), :mod:`.workdir` (the work folder)
and :mod:`.cli`.  The code fills them in (``raise InputError(msg.NOT_A_TIFF.format(
path=path))``); ``tests/test_messages.py`` fails on a sentence written anywhere else.

Users, scripts and tests read these words: change them here, knowingly.  This package
imports nothing, so every layer may use it.
"""
