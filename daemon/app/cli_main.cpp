// rostersync: the command-line companion of rostersyncd. See `rostersync help`.
#include "app/cli.hpp"

#include <signal.h>

int main(int argc, char** argv)
{
    ::signal(SIGPIPE, SIG_IGN);
    return rostersync::app::run_cli(argc, argv);
}
