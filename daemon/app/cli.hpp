#pragma once
// File: app/cli.hpp
//
// The `rostersync` command-line companion: `fetch` (one roster through the daemon's own pull
// engine), `keygen` (a new signing key and its JWK) and `jwks` (the document the daemon serves).

namespace rostersync::app {

int run_cli(int argc, char** argv);

}  // namespace rostersync::app
