#include "app/cli.hpp"

#include "app/options.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "nrps/error.hpp"
#include "nrps/fetcher.hpp"
#include "oauth/assertion.hpp"
#include "roster/encode.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::app {
namespace {

constexpr const char* usage = R"(Usage: rostersync COMMAND [options]

Commands:
  fetch --config FILE --platform NAME --url URL [--role URI] [--format table|json]
        Fetch one roster through the daemon's pull engine (same URL guard, budget, token and
        retries) and print it. Progress goes to stderr. Exit 0 with the roster; 1 when the pass
        failed (the error is classified: retryable, throttled, configuration, not found …).
  keygen --out FILE [--alg RS256|ES256] [--kid KID]
        Write a new private key (mode 0600; an existing file is never overwritten) and print its
        public JWK, to register the tool with a platform.
  jwks --config FILE
        Print the JWK set the daemon serves at /.well-known/jwks.json.
  version, --version     Print the version.
  help, --help           This text.

Exit codes: 0 success, 1 the operation failed, 64 bad command line, 78 invalid configuration.
)";

struct args {
    std::map<std::string, std::string> values;
    std::string error;
};

args parse(int argc, char** argv, int from, const std::vector<std::string>& known)
{
    args a;
    for (int i = from; i < argc; ++i) {
        std::string k = argv[i];
        if (!k.starts_with("--") || std::find(known.begin(), known.end(), k.substr(2)) == known.end()) {
            a.error = "unknown argument \"" + k + "\"";
            return a;
        }
        if (i + 1 >= argc) {
            a.error = k + " needs a value";
            return a;
        }
        a.values[k.substr(2)] = argv[++i];
    }
    return a;
}

std::optional<config::config> load_config(const std::string& path)
{
    auto cfg = config::load_file(path, config::process_environment());
    if (!cfg) {
        for (const auto& p : cfg.error().list) std::cerr << p.to_string() << '\n';
        return std::nullopt;
    }
    return std::move(*cfg);
}

std::string error_class(const error_code& ec)
{
    if (ec == make_error_code(nrps::errc::not_found)) return "not found";
    if (ec == make_error_code(nrps::errc::configuration) || oauth::is_configuration_error(ec)) return "configuration";
    if (ec == make_error_code(nrps::errc::throttled)) return "throttled";
    if (is_retryable(ec)) return "retryable";
    return "refused";
}

std::string short_role(const std::string& uri)
{
    auto hash = uri.rfind('#');
    return hash == std::string::npos ? uri : uri.substr(hash + 1);
}

int fetch(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"config", "platform", "url", "role", "format"});
    for (const char* required : {"config", "platform", "url"}) {
        if (a.error.empty() && !a.values.count(required)) a.error = std::string("--") + required + " is required";
    }
    const std::string format = a.values.count("format") ? a.values["format"] : "table";
    if (a.error.empty() && format != "table" && format != "json") a.error = "--format is table or json";
    if (!a.error.empty()) {
        std::cerr << "rostersync fetch: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto cfg = load_config(a.values["config"]);
    if (!cfg) return exit_config;
    log::configure({.min_level = log::level::warning, .fmt = cfg->log.format});
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    if (!engine) {
        std::cerr << "rostersync fetch: " << engine.error().detail << "\n";
        return exit_config;
    }
    nrps::fetch_options fo;
    if (a.values.count("role")) fo.role = a.values["role"];
    const auto start = std::chrono::steady_clock::now();
    const bool tty = isatty(STDERR_FILENO) != 0;
    fo.on_page = [&](const nrps::progress& p) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "%spages %d, members %zu, %.0f members/s, throttle waits %d, retries %d%s",
                     tty ? "\r" : "", p.pages, p.members, secs > 0 ? static_cast<double>(p.members) / secs : 0.0,
                     p.throttle_waits, p.retries, tty ? "" : "\n");
    };
    std::optional<result<nrps::roster, nrps::fetch_error>> out;
    net::co_spawn(ioc, (*engine)->fetch(a.values["platform"], a.values["url"], fo),
                  [&](std::exception_ptr e, result<nrps::roster, nrps::fetch_error> r) {
                      if (e) std::rethrow_exception(e);
                      out = std::move(r);
                  });
    ioc.run();
    if (tty) std::fprintf(stderr, "\n");
    if (!*out) {
        const auto& err = out->error();
        std::cerr << "rostersync fetch: failed (" << error_class(err.ec) << "): " << err.ec.message()
                  << (err.detail.empty() ? "" : ": " + err.detail) << "\n";
        return exit_runtime_failure;
    }
    const auto& r = **out;
    if (format == "json") {
        boost::json::array members;
        for (const auto& m : r.members) {
            // The Member JSON of the event contract, with the user_id in front.
            boost::json::object o{{"user_id", m.user_id}};
            auto encoded = boost::json::parse(roster::encode_member(m));
            for (auto& [k, v] : encoded.as_object()) o[k] = v;
            members.push_back(std::move(o));
        }
        boost::json::object ctx{{"id", r.context.id}};
        if (r.context.label) ctx["label"] = *r.context.label;
        if (r.context.title) ctx["title"] = *r.context.title;
        std::cout << boost::json::serialize(boost::json::object{{"context", std::move(ctx)}, {"pages", r.pages},
                                                                {"members", std::move(members)}})
                  << "\n";
    } else {
        std::printf("%-38s %-8s %-40s %s\n", "USER_ID", "STATUS", "ROLES", "NAME");
        for (const auto& m : r.members) {
            std::string roles;
            for (const auto& x : m.roles) roles += (roles.empty() ? "" : ",") + short_role(x);
            std::printf("%-38s %-8s %-40s %s\n", m.user_id.c_str(), m.status.c_str(), roles.c_str(),
                        m.name.value_or("").c_str());
        }
        std::fprintf(stderr, "context %s: %zu members in %d pages (%d duplicates, %d retries, %d throttle waits)\n",
                     r.context.id.c_str(), r.members.size(), r.pages, r.duplicates, r.retries, r.throttle_waits);
    }
    return exit_ok;
}

int keygen(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"out", "alg", "kid"});
    if (a.error.empty() && !a.values.count("out")) a.error = "--out is required";
    if (!a.error.empty()) {
        std::cerr << "rostersync keygen: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto key = oauth::generate_key(a.values.count("alg") ? a.values["alg"] : "RS256",
                                   a.values.count("kid") ? a.values["kid"] : "");
    if (!key) {
        std::cerr << "rostersync keygen: " << key.error().message << "\n";
        return exit_usage;
    }
    const std::string& path = a.values["out"];
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::cerr << "rostersync keygen: cannot create " << path << ": " << std::strerror(errno)
                  << (errno == EEXIST ? " (an existing key is never overwritten)" : "") << "\n";
        return exit_runtime_failure;
    }
    const std::string& pem = key->private_pem;
    bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        std::cerr << "rostersync keygen: writing " << path << " failed\n";
        return exit_runtime_failure;
    }
    std::cout << key->public_jwk << "\n";
    std::cerr << "wrote " << path << " (kid " << key->kid << "); register the JWK above with the platform, or its "
              << "JWKS URL (http://<http.listen>/.well-known/jwks.json)\n";
    return exit_ok;
}

int jwks(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"config"});
    if (a.error.empty() && !a.values.count("config")) a.error = "--config is required";
    if (!a.error.empty()) {
        std::cerr << "rostersync jwks: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto cfg = load_config(a.values["config"]);
    if (!cfg) return exit_config;
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    if (!engine) {
        std::cerr << "rostersync jwks: " << engine.error().detail << "\n";
        return exit_config;
    }
    std::cout << (*engine)->jwks() << "\n";
    return exit_ok;
}

}  // namespace

int run_cli(int argc, char** argv)
{
    std::string cmd = argc > 1 ? argv[1] : "help";
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::cout << usage;
        return argc > 1 ? exit_ok : exit_usage;
    }
    if (cmd == "version" || cmd == "--version") {
        std::cout << "rostersync " << rostersync::version << " (" << rostersync::revision << ")\n";
        return exit_ok;
    }
    if (cmd == "fetch") return fetch(argc, argv);
    if (cmd == "keygen") return keygen(argc, argv);
    if (cmd == "jwks") return jwks(argc, argv);
    std::cerr << "rostersync: unknown command \"" << cmd << "\"\n\n" << usage;
    return exit_usage;
}

}  // namespace rostersync::app
