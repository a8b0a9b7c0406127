"""A test-only module that depends on a module nobody loads."""

from pysips.script.exports import ModuleExports

exports = ModuleExports("depmod", deps=("absentdep",))
