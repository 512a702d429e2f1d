# Unit tests of the building blocks (src/base/). Included from tests/tests.cmake.
sluice_unit_test(test_base tests/base/test_base.c)
