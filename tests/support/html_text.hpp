#pragma once
// File: tests/support/html_text.hpp
//
// What a person reads in a piece of HTML (the status page's tests: unit tests on the rendered
// string, and the headless Chromium test on the DOM it dumps).

#include <string>

namespace rostersync::test {

/// The text without tags and without <head>, <style> and <script> elements, the usual character
/// references decoded, white space runs collapsed to one space.
std::string visible_text(std::string html);

}  // namespace rostersync::test
