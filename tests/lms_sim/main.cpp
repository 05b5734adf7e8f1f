// rostersync-lms-sim: the simulated platform as a standalone process, for multi-process tests,
// benchmarks and trials. See --help.
#include "lms_sim/server.hpp"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

namespace {

using namespace rostersync::lms_sim;

const char* usage = R"(Usage: rostersync-lms-sim [options]

A Canvas-faithful LTI Advantage platform: OAuth2 token endpoint and NRPS rosters, with Canvas's
throttle, errors and Link headers. It answers for every --host (tell clients to reach the name
through a resolve map) and serves a control API under /_sim/ (state, requests, faults, clients,
courses: see tests/lms_sim/README.md).

Options:
  --listen ADDR:PORT        listen address (default 127.0.0.1:0: a free port)
  --host NAME[@CLUSTER]     a host name to play (repeatable; default canvas.test). Hosts of one
                            cluster share a throttle bucket per client_id
  --spec-host NAME[@CLUSTER] a host in spec mode: rel="differences", Inactive/Deleted members
  --tls                     serve HTTPS with a CA generated at start
  --ca-out FILE             write the CA certificate there (default lms-sim-ca.pem with --tls)
  --seed N                  seed of the generated world (default 1)
  --courses N               courses to generate (default 3)
  --course-size N           members per generated course (default 30)
  --groups N                groups to generate (default 0)
  --client ID=PEM_FILE      register a tool by client_id and public key (repeatable)
  --client-jwks ID=FILE     register a tool by client_id and JWK set
  --privacy LEVEL           anonymous, name_only, email_only or public (default public)
  --token-ttl SECONDS       access token lifetime (default 3600)
  --throttle MODE           off, 403 (Canvas) or 429 (default 403)
  --retry-after SECONDS     send Retry-After with rejections
  --token-cost              token requests cost +200 in the client's bucket
  --seconds-per-cost S      reply latency per unit of throttle cost (default 0)
  Canvas REST API (account discovery):
  --rest-token TOKEN[@ACCOUNT] a REST API token whose user administers ACCOUNT (default 1, the
                            root) and may list courses and run reports (repeatable)
  --sub-accounts N          spread the generated courses over the root and N sub-accounts
  --not-installed-every N   every Nth generated course lacks the tool (for every --client)
  --report-polls N          polls a provisioning report answers "running" (default 3)
  --files-host NAME         serve report files from this --host (default: the API host)
  -h, --help                this text

Prints its base URLs, then "ready"; SIGTERM or SIGINT stops it (exit 0).
)";

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

host_config parse_host(const std::string& v, bool spec)
{
    auto at = v.find('@');
    host_config h{.name = v.substr(0, at), .spec_mode = spec};
    if (at != std::string::npos) h.cluster = v.substr(at + 1);
    return h;
}

}  // namespace

int main(int argc, char** argv)
{
    server_options opts;
    opts.sim.hosts.clear();
    int courses = 3, course_size = 30, groups = 0, sub_accounts = 0, not_installed_every = 0;
    std::vector<rest_token> rest_tokens;
    std::vector<client_registration> clients;
    privacy level = privacy::everything;
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
                return argv[++i];
            };
            if (a == "-h" || a == "--help") {
                std::cout << usage;
                return 0;
            } else if (a == "--listen") {
                auto v = value();
                auto colon = v.rfind(':');
                if (colon == std::string::npos) throw std::runtime_error("--listen wants ADDR:PORT");
                opts.address = v.substr(0, colon);
                opts.port = static_cast<std::uint16_t>(std::stoi(v.substr(colon + 1)));
            } else if (a == "--host") {
                opts.sim.hosts.push_back(parse_host(value(), false));
            } else if (a == "--spec-host") {
                opts.sim.hosts.push_back(parse_host(value(), true));
            } else if (a == "--tls") {
                opts.tls = true;
            } else if (a == "--ca-out") {
                opts.ca_file_out = value();
            } else if (a == "--seed") {
                opts.sim.seed = std::stoull(value());
            } else if (a == "--courses") {
                courses = std::stoi(value());
            } else if (a == "--course-size") {
                course_size = std::stoi(value());
            } else if (a == "--groups") {
                groups = std::stoi(value());
            } else if (a == "--client" || a == "--client-jwks") {
                auto v = value();
                auto eq = v.find('=');
                if (eq == std::string::npos) throw std::runtime_error(a + " wants ID=FILE");
                client_registration c{.client_id = v.substr(0, eq)};
                (a == "--client" ? c.public_key_pem : c.jwks_json) = read_file(v.substr(eq + 1));
                clients.push_back(std::move(c));
            } else if (a == "--privacy") {
                auto v = value();
                if (v == "anonymous") level = privacy::anonymous;
                else if (v == "name_only") level = privacy::name_only;
                else if (v == "email_only") level = privacy::email_only;
                else if (v == "public") level = privacy::everything;
                else throw std::runtime_error("--privacy: anonymous, name_only, email_only or public");
            } else if (a == "--token-ttl") {
                opts.sim.token_ttl_seconds = std::stoi(value());
            } else if (a == "--throttle") {
                auto v = value();
                if (v == "off") opts.sim.throttle.enabled = false;
                else if (v == "403") opts.sim.throttle.mode = reject_mode::forbidden_403;
                else if (v == "429") opts.sim.throttle.mode = reject_mode::too_many_429;
                else throw std::runtime_error("--throttle: off, 403 or 429");
            } else if (a == "--retry-after") {
                opts.sim.throttle.retry_after = std::stoi(value());
            } else if (a == "--token-cost") {
                opts.sim.throttle.token_requests_cost = true;
            } else if (a == "--seconds-per-cost") {
                opts.sim.throttle.seconds_per_cost = std::stod(value());
            } else if (a == "--rest-token") {
                auto v = value();
                auto at = v.find('@');
                rest_tokens.push_back({.token = v.substr(0, at),
                                       .account = at == std::string::npos ? 1 : std::stoull(v.substr(at + 1))});
            } else if (a == "--sub-accounts") {
                sub_accounts = std::stoi(value());
            } else if (a == "--not-installed-every") {
                not_installed_every = std::stoi(value());
            } else if (a == "--report-polls") {
                opts.sim.rest.report_polls = std::stoi(value());
            } else if (a == "--files-host") {
                opts.sim.rest.files_host = value();
            } else {
                throw std::runtime_error("unknown argument \"" + a + "\"");
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "rostersync-lms-sim: " << e.what() << "\n\n" << usage;
        return 64;
    }
    if (opts.sim.hosts.empty()) opts.sim.hosts.push_back({.name = "canvas.test"});
    if (opts.tls && opts.ca_file_out.empty()) opts.ca_file_out = "lms-sim-ca.pem";

    // Block the stop signals before any thread starts, then wait for them here.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    server sim(opts);
    try {
        sim.start();
    } catch (const std::exception& e) {
        std::cerr << "rostersync-lms-sim: " << e.what() << "\n";
        return 1;
    }
    auto listing = sim.call([&](sim_core& core) {
        std::vector<std::uint64_t> accounts{1};
        for (int i = 0; i < sub_accounts; ++i)
            accounts.push_back(core.state().w.add_account(accounts[static_cast<std::size_t>(i) / 2], "Sub-account " + std::to_string(i + 1)).id);
        std::set<std::uint64_t> without_tool;
        std::vector<std::pair<std::uint64_t, std::string>> out;
        for (int i = 0; i < courses; ++i) {
            auto& c = core.state().w.add_course({.size = course_size, .account_id = accounts[static_cast<std::size_t>(i) % accounts.size()]});
            const bool missing = not_installed_every > 0 && i % not_installed_every == not_installed_every - 1;
            if (missing) without_tool.insert(c.id);
            out.emplace_back(c.id, "course " + std::to_string(c.id) + " (" + std::to_string(c.members.size()) +
                                       " members, account " + std::to_string(c.account_id) + ", context " + c.context_id +
                                       (missing ? ", tool not installed" : "") + ")");
        }
        for (auto& c : clients) {
            c.level = level;
            c.not_installed = without_tool;
            core.register_client(std::move(c));
        }
        for (auto& t : rest_tokens) core.register_rest_token(std::move(t));
        for (int i = 0; i < groups; ++i) {
            auto& g = core.state().w.add_group(5);
            out.emplace_back(g.id, "group " + std::to_string(g.id));
        }
        return out;
    });

    std::cout << "lms-sim listening on " << sim.scheme() << "://" << opts.address << ":" << sim.port() << "\n";
    for (const auto& h : opts.sim.hosts) {
        auto [from, to] = sim.resolve_entry(h.name);
        std::cout << "  host " << h.name << (h.spec_mode ? " (spec mode)" : "") << ": " << sim.base_url(h.name)
                  << "  resolve \"" << from << "\" = \"" << to << "\"\n";
    }
    if (opts.tls) std::cout << "  ca file: " << opts.ca_file_out << "\n";
    const auto& first = opts.sim.hosts.front().name;
    for (const auto& [id, text] : listing) {
        bool group = text.starts_with("group");
        std::cout << "  " << text << ": " << sim.base_url(first) << "/api/lti/" << (group ? "groups/" : "courses/")
                  << id << "/names_and_roles\n";
    }
    if (!rest_tokens.empty())
        std::cout << "  REST API: " << sim.base_url(first) << "/api/v1/accounts/1/courses (rest_url = \""
                  << sim.base_url(first) << "\")\n";
    std::cout << "  control: " << sim.base_url(first) << "/_sim/state\n";
    std::cout << "ready" << std::endl;

    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::cout << "stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
    sim.stop();
    return 0;
}
