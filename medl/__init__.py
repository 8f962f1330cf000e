"""Clara Train 4.x's `medl` module names, so an archive's own `commands/*.sh` run unchanged.

Clara's scripts call `python3 -u -m medl.apps.train|evaluate|export ...`; the modules of
`medl.apps` are thin entry points that translate Clara's flags and hand over to `clara`.
Nothing else of Clara's `medl` package exists here.
"""
