// The unit test module's entry point (Boost.Test, dynamically linked: BOOST_TEST_DYN_LINK comes
// from the build).
#define BOOST_TEST_MODULE myelin_unit_tests
#include <boost/test/unit_test.hpp>
