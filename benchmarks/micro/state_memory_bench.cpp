// Resident memory per tracked membership and the fold rate, at scale: folds C contexts × M members
// (default 20,000 × 50 = 1,000,000) of MembershipChange JSON through sync::decode_change and
// sync::partition_state::apply, as the daemon's state consumer does, at three privacy levels:
//
//   anonymous  ids and roles only
//   public     + name, given_name, family_name, email
//   full       + picture, lis_person_sourcedid, lti11_legacy_user_id (what the simulator sends)
//
// Each level runs in its own child process, so one cannot leave freed-but-resident memory to the
// next. Figures per membership:
//   rss   growth of the resident set (/proc/self/statm, second field) from just before the fold
//         to just after it — what the issue's target is stated in; includes malloc's overhead and
//         fragmentation, and the freed JSON of the last batch if malloc kept it;
//   heap  growth of malloc's in-use bytes (mallinfo2: uordblks + hblkhd), the same without free
//         pages and trimming effects;
//   table what the member tables themselves report (slots, keys, profile blocks; requested
//         bytes, before malloc's per-allocation overhead).
// The fold rate is decode + apply (the daemon's path) and apply alone, in this thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID: on a shared machine, time spent descheduled is not counted).
// `--legacy` measures the representation this replaced (std::map<user_id, member_state> per
// context, std::map of contexts) on the same data, for comparison.
//
//   rostersync_state_memory_bench [--contexts=N] [--members=M|MIN-MAX] [--legacy] [--json]
//                                 [--level=anonymous|public|full|all]
#include "roster/encode.hpp"
#include "sync/state.hpp"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace rostersync;
/// This thread's CPU time: the machine is shared, and time spent descheduled is not the fold's.
struct clock_type {
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<clock_type, duration>;
    static time_point now()
    {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
    }
};

const std::string lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#";
const std::string ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";
constexpr const char* given_names[] = {"Ada", "Bo", "Chidi", "Dana", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jun",
                                       "Kemal", "Lea"};
constexpr const char* family_names[] = {"Okafor", "Lindqvist", "Nakamura", "Rossi", "Haddad", "Novak", "Silva",
                                        "Kowalski", "Dubois", "Moreau"};

enum class level { anonymous, public_, full };

const char* name_of(level l)
{
    switch (l) {
        case level::anonymous: return "anonymous";
        case level::public_: return "public";
        case level::full: return "full";
    }
    return "?";
}

struct options {
    int contexts = 20'000;
    int members = 50;      ///< per context; with members_max, the least
    int members_max = 0;   ///< when set, each context has members..members_max (uniform, seeded)
    std::vector<level> levels{level::anonymous, level::public_, level::full};
    bool legacy = false;
    bool json = false;
};

/// Canvas-shaped data: UUID v4 user ids (lowercase), 40-hex context ids, a teacher, a TA, now and
/// then a designer or an observer, the rest learners.
class generator {
public:
    explicit generator(level l) : level_(l) {}

    std::string hex(std::size_t n)
    {
        static constexpr char digits[] = "0123456789abcdef";
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s += digits[rng_() % 16];
        return s;
    }

    std::string context_id() { return hex(40); }

    nrps::member member(int course, int index)
    {
        nrps::member m;
        auto u = hex(32);
        m.user_id = u.substr(0, 8) + "-" + u.substr(8, 4) + "-4" + u.substr(13, 3) + "-a" + u.substr(17, 3) + "-" +
                    u.substr(20, 12);
        if (index == 0) m.roles = {lis + "Instructor"};
        else if (index == 1) m.roles = {ta, lis + "Instructor"};
        else if (index == 2 && course % 4 == 0) m.roles = {lis + "ContentDeveloper"};
        else if (index == 3 && course % 10 == 0) m.roles = {lis + "Mentor"};
        else m.roles = {lis + "Learner"};
        ++serial_;
        if (level_ != level::anonymous) {
            std::string given = given_names[rng_() % std::size(given_names)];
            std::string family = family_names[rng_() % std::size(family_names)];
            m.name = given + " " + family;
            std::string local = given + "." + family;
            for (auto& ch : local) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            m.email = local + "." + std::to_string(serial_) + "@example.edu";
            m.given_name = std::move(given);
            m.family_name = std::move(family);
        }
        if (level_ == level::full) {
            m.picture = "https://canvas.example.edu/images/thumbnails/" + std::to_string(serial_) + ".png";
            m.lis_person_sourcedid = "SIS" + std::to_string(serial_);
            m.lti11_legacy_user_id = hex(40);
        }
        return m;
    }

private:
    level level_;
    std::mt19937_64 rng_{20240611};
    long serial_ = 100000;
};

std::size_t rss_bytes()
{
    std::ifstream f("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    f >> size >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t heap_bytes()
{
    const struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/// The representation this replaced, folded the same way (for --legacy).
struct legacy_state {
    struct context {
        std::map<std::string, roster::member_state> members;
        std::uint32_t roster_version = 0;
    };
    std::map<std::string, context> contexts;
    std::size_t memberships = 0;

    void apply(const sync::change_event& e, std::int64_t /*offset*/)
    {
        auto& ctx = contexts[e.issuer + "|" + e.context_id];
        ctx.roster_version = std::max(ctx.roster_version, e.roster_version);
        if (e.type == "member.removed") {
            memberships -= ctx.members.erase(e.user_id);
            return;
        }
        auto [it, fresh] = ctx.members.try_emplace(e.user_id);
        memberships += fresh;
        it->second.record = *e.after;
        it->second.provisional = e.source == "launch";
        it->second.launch_seen_at = e.source == "launch" ? e.time : std::nullopt;
    }
};

struct figures {
    std::size_t memberships = 0;
    double rss_per = 0, heap_per = 0, table_per = 0;
    double fold_rate = 0, apply_rate = 0;
    std::size_t role_lists = 0;
    std::size_t roles_bytes = 0;
    double seconds = 0;
};

template <class State>
figures run(const options& o, level l, State& state)
{
    generator gen(l);
    roster::event_context ctx{.issuer = "https://canvas.instructure.com", .client_id = "10000000000001",
                              .deployment_id = "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
                              .source = "nrps", .roster_version = 1, .time = std::chrono::system_clock::now()};
    // One course's worth of JSON at a time: the batch's memory is reused, so the growth measured
    // is the state's.
    std::vector<std::string> batch;
    std::vector<sync::change_event> events;
    const int most = std::max(o.members, o.members_max);
    batch.reserve(static_cast<std::size_t>(most));
    events.reserve(static_cast<std::size_t>(most));
    std::mt19937 sizes(7);
    auto fill = [&](int course) {
        batch.clear();
        ctx.context_id = gen.context_id();
        const int count = o.members_max > o.members
                              ? std::uniform_int_distribution<int>(o.members, o.members_max)(sizes)
                              : o.members;
        for (int i = 0; i < count; ++i) {
            auto m = gen.member(course, i);
            batch.push_back(roster::encode_change({roster::change_type::added, m.user_id, std::nullopt, std::move(m)}, ctx));
        }
    };
    // Warm-up: a batch decoded and dropped, so first-use allocations are not counted.
    fill(-1);
    events.clear();
    for (const auto& r : batch) events.push_back(std::move(*sync::decode_change(r)));
    events.clear();
    malloc_trim(0);

    const std::size_t rss0 = rss_bytes(), heap0 = heap_bytes();
    clock_type::duration decode_time{}, apply_time{};
    const auto start = clock_type::now();
    std::int64_t offset = 0;
    for (int c = 0; c < o.contexts; ++c) {
        fill(c);
        const auto t0 = clock_type::now();
        events.clear();
        for (const auto& r : batch) events.push_back(std::move(*sync::decode_change(r)));
        const auto t1 = clock_type::now();
        for (const auto& e : events) state.apply(e, offset++);
        const auto t2 = clock_type::now();
        decode_time += t1 - t0;
        apply_time += t2 - t1;
    }
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    // The last batch's JSON and events are not state: drop them before measuring.
    batch = {};
    events = {};
    const std::size_t rss1 = rss_bytes(), heap1 = heap_bytes();

    figures f;
    if constexpr (std::is_same_v<State, sync::partition_state>) {
        f.memberships = state.memberships();
        std::size_t table = 0;
        for (const auto& [key, cs] : state.contexts()) {
            const auto m = cs.members.memory_usage();
            table += m.slots + m.keys + m.profiles;
        }
        f.table_per = static_cast<double>(table) / static_cast<double>(f.memberships);
        f.role_lists = roster::role_lists_interned();
        f.roles_bytes = roster::role_lists_bytes();
    } else {
        f.memberships = state.memberships;
    }
    const auto n = static_cast<double>(f.memberships);
    f.rss_per = (static_cast<double>(rss1) - static_cast<double>(rss0)) / n;
    f.heap_per = (static_cast<double>(heap1) - static_cast<double>(heap0)) / n;
    const double folds = static_cast<double>(offset);
    f.fold_rate = folds / std::chrono::duration<double>(decode_time + apply_time).count();
    f.apply_rate = folds / std::chrono::duration<double>(apply_time).count();
    f.seconds = seconds;
    return f;
}

void report(const options& o, level l, const figures& f)
{
    const char* repr = o.legacy ? "legacy-std-map" : "member_table";
    if (o.json) {
        std::printf("{\"representation\":\"%s\",\"level\":\"%s\",\"memberships\":%zu,\"rss_bytes_per_membership\":%.1f,"
                    "\"heap_bytes_per_membership\":%.1f,\"table_bytes_per_membership\":%.1f,"
                    "\"fold_changes_per_second\":%.0f,\"apply_changes_per_second\":%.0f,\"role_lists\":%zu,"
                    "\"role_lists_bytes\":%zu}\n",
                    repr, name_of(l), f.memberships, f.rss_per, f.heap_per, f.table_per, f.fold_rate, f.apply_rate,
                    f.role_lists, f.roles_bytes);
    } else {
        std::printf("%-15s %-10s %10zu %10.1f %10.1f %10.1f %14.0f %14.0f %8zu\n", repr, name_of(l), f.memberships,
                    f.rss_per, f.heap_per, f.table_per, f.fold_rate, f.apply_rate, f.role_lists);
    }
    std::fflush(stdout);
}

[[noreturn]] void child(const options& o, level l)
{
    figures f;
    if (o.legacy) {
        legacy_state st;
        f = run(o, l, st);
    } else {
        sync::partition_state st;
        f = run(o, l, st);
    }
    report(o, l, f);
    // The state is not destroyed: its teardown is not what is measured.
    const bool expected = o.members_max > o.members
                              ? f.memberships >= static_cast<std::size_t>(o.contexts) * static_cast<std::size_t>(o.members)
                              : f.memberships == static_cast<std::size_t>(o.contexts) * static_cast<std::size_t>(o.members);
    std::_Exit(expected ? 0 : 1);
}

bool parse(int argc, char** argv, options& o)
{
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* prefix) -> const char* {
            return a.rfind(prefix, 0) == 0 ? argv[i] + std::strlen(prefix) : nullptr;
        };
        if (const char* v = value("--contexts=")) o.contexts = std::atoi(v);
        else if (const char* v2 = value("--members=")) {
            o.members = std::atoi(v2);
            if (const char* dash = std::strchr(v2, '-')) o.members_max = std::atoi(dash + 1);
        }
        else if (const char* v3 = value("--level=")) {
            std::string s = v3;
            if (s == "anonymous") o.levels = {level::anonymous};
            else if (s == "public") o.levels = {level::public_};
            else if (s == "full") o.levels = {level::full};
            else if (s != "all") return false;
        } else if (a == "--legacy") o.legacy = true;
        else if (a == "--json") o.json = true;
        else return false;
    }
    return o.contexts > 0 && o.members > 0 && (o.members_max == 0 || o.members_max >= o.members);
}

}  // namespace

int main(int argc, char** argv)
{
    options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: %s [--contexts=N] [--members=M] [--level=anonymous|public|full|all] [--legacy] "
                             "[--json]\n", argv[0]);
        return 2;
    }
    if (!o.json) {
        if (o.members_max) std::printf("%d contexts of %d-%d members (uniform); ", o.contexts, o.members, o.members_max);
        else std::printf("%d contexts x %d members; ", o.contexts, o.members);
        std::printf("bytes per membership (rss: resident set growth, heap: malloc in use, "
                    "table: the tables' own count); fold = decode + apply, changes/s on one core\n");
        std::printf("%-15s %-10s %10s %10s %10s %10s %14s %14s %8s\n", "representation", "level", "members", "rss",
                    "heap", "table", "fold/s", "apply/s", "roles");
        std::fflush(stdout);
    }
    int failures = 0;
    for (level l : o.levels) {
        const pid_t pid = fork();
        if (pid < 0) {
            std::perror("fork");
            return 1;
        }
        if (pid == 0) child(o, l);
        int status = 0;
        waitpid(pid, &status, 0);
        failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    return failures == 0 ? 0 : 1;
}
