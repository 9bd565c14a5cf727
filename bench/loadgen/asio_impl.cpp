// The compiled parts of Asio and Beast for the load generator (its other TUs see declarations
// only: BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION), as gateway/asio_impl.cpp.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
