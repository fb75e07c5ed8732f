"""Reporters: lint results for people and machines (the formats by name: mailcfg.reporters.formats).

Nothing is imported here: a module that needs one reporter (or `visible`) loads no other, nor the analysis.
"""
