// The compiled parts of Asio and Beast, built once for the gateway library: the gateway's other
// TUs are compiled with BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION so
// they only see declarations, which is what keeps their compile time down.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
