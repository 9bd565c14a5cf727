// The compiled part of Asio's SSL support, which gateway/asio_impl.cpp (plain TCP only) leaves out.
// Built with BOOST_ASIO_SEPARATE_COMPILATION like the other Asio TUs, so it is compiled once here,
// for the gateway's TLS listeners and for the outbound library (which links the gateway's).
#include <boost/asio/ssl/impl/src.hpp>
