#pragma once
// File: app/cli.hpp
//
// The `rostersync` command-line companion: `fetch` (one roster through the daemon's own pull
// engine), `keygen` (a new signing key and its JWK), `jwks` (the document the daemon serves),
// `seen` (publish CourseSeen events, one from flags or a CSV backfill), `discover` (find a Canvas
// account's courses through the REST API and announce those with the tool), `tail` (print the
// MembershipChange stream readably, from a manually assigned consumer that joins no group), and
// `status`, `resync`, `release` (clients of the running daemon's admin API on http.listen).

namespace rostersync::app {

int run_cli(int argc, char** argv);

}  // namespace rostersync::app
