// The /versions body, shared with the benchmark's direct (no actor hop) handler.
#pragma once
#include <boost/json/object.hpp>

namespace myelin::endpoints {
const boost::json::object& versions_body();
}
