#pragma once
// The whole job on one machine, over real sockets, for integration and reliability tests and
// benchmarks: the simulated platform (in-process, TLS), the mock Kafka cluster as a process of its
// own (rostersync-kafka-mock, so it outlives daemons that are killed), rostersyncd instances as
// child processes, and a reader of the change stream.
//
//   pipeline_env env({.hosts = {"a.school.test", "b.school.test"}});
//   auto c = env.add_course("a.school.test", 40);
//   auto& d = env.start_daemon();
//   env.publish_seen(c);
//   env.wait_changes(40, 60s);

#include "lms_sim/server.hpp"
#include "support/daemon_process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rostersync::kafka {
class producer;
class consumer;
}  // namespace rostersync::kafka

namespace rostersync::test {

inline constexpr const char* sim_issuer = "https://canvas.instructure.com";
inline constexpr const char* sim_client_id = "10000000000001";

struct pipeline_env_options {
    std::vector<std::string> hosts{"a.school.test", "b.school.test"};
    int partitions = 4;
    std::string extra_kafka_toml;      ///< lines added to [kafka]
    std::string extra_sync_toml;       ///< lines added to [sync]
    std::string extra_toml;            ///< appended to the daemon's config
    lms_sim::throttle_options throttle{.enabled = false};
    int brokers = 1;
    int session_timeout_ms = 6000;
    std::string extra_properties_toml; ///< lines added to [kafka.properties]     ///< the consumer groups' session timeout (a killed member's partitions wait this long)
};

/// A course on the simulated platform and where the daemon finds it.
struct sim_course {
    std::uint64_t id = 0;
    std::string host;
    std::string context_id;
    std::string url;
    std::string context_key() const { return std::string(sim_issuer) + "|" + context_id; }
};

/// One MembershipChange as read back.
struct change_record {
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::string key;
    std::string value;
    boost::json::object json;
    std::map<std::string, std::string> headers;
    std::string type() const { return std::string(json.at("type").as_string()); }
    std::string user_id() const { return std::string(json.at("user_id").as_string()); }
    std::string context_id() const { return std::string(json.at("context").as_object().at("id").as_string()); }
};

/// A daemon instance with its admin API.
struct daemon_instance {
    std::unique_ptr<daemon_process> process;
    std::string http_host;
    unsigned short http_port = 0;
    std::string name;
};

class pipeline_env {
public:
    explicit pipeline_env(pipeline_env_options opts = {});
    ~pipeline_env();
    pipeline_env(const pipeline_env&) = delete;
    pipeline_env& operator=(const pipeline_env&) = delete;

    lms_sim::server& sim() { return *sim_; }
    const std::string& bootstrap() const { return bootstrap_; }
    const std::filesystem::path& config_path() const { return config_; }
    const std::string& admin_token() const { return token_; }
    temp_dir& dir() { return dir_; }

    sim_course add_course(const std::string& host, int size);
    /// The simulator's truth: user_id → sorted role URIs (what a correct fold must hold).
    std::map<std::string, std::set<std::string>> truth(const sim_course& c);
    /// The same for several courses together.
    std::map<std::string, std::set<std::string>> truth(const std::vector<sim_course>& courses);

    /// Starts a daemon and waits for READY=1 and for its partitions (all, or `live_partitions`) to be live.
    daemon_instance& start_daemon(int live_partitions = -1, std::chrono::milliseconds timeout = std::chrono::seconds(60));
    std::vector<std::unique_ptr<daemon_instance>>& daemons() { return daemons_; }
    /// Waits until the instance reports `n` live partitions (metrics).
    bool wait_live(daemon_instance& d, int n, std::chrono::milliseconds timeout);
    int live_partitions(daemon_instance& d);

    /// Publishes a CourseSeen for the course (valid, with `extra` JSON members merged in).
    void publish_seen(const sim_course& c, boost::json::object extra = {});
    /// A fault command for the mock cluster (see rostersync-kafka-mock --control): "down 1", "up 1",
    /// "errors 0 5 19", "leader lti.membership-changes 0 2", "rtt 1 500"; throws if it is refused.
    void mock_command(const std::string& command);
    /// GET /readyz of an instance: its status code and body.
    std::pair<int, std::string> ready(daemon_instance& d);

    /// Publishes raw bytes to the course-seen topic.
    void publish_raw(const std::string& key, const std::string& value);

    /// Reads the change stream (all partitions, from the beginning) until `n` records in total
    /// were read or the timeout passed; returns everything read so far.
    const std::vector<change_record>& wait_changes(std::size_t n, std::chrono::milliseconds timeout);
    const std::vector<change_record>& changes() const { return changes_; }
    /// Records in a topic now (sum of high watermarks).
    std::int64_t record_count(const std::string& topic);
    /// Every record of a topic (all partitions), read to its end.
    std::vector<change_record> read_topic(const std::string& topic, bool parse_json = true);

    /// GET/POST on an instance's admin API; the parsed JSON body (null on failure) and status.
    std::pair<int, boost::json::value> admin(daemon_instance& d, const std::string& method, const std::string& target);
    /// A context's state from whichever instance owns it.
    std::optional<boost::json::object> context_state(const sim_course& c);
    /// Reads what the daemons logged so far (tests that wait otherwise must call it now and then).
    void pump_logs();
    /// What the last unsuccessful context_state() heard (for failure messages).
    const std::string& last_admin_answer() const { return last_admin_answer_; }
    /// Waits until the context finished a pass that started at or after `since` (RFC 3339 text
    /// compare) and is neither running nor waiting for a confirming pass; returns its state.
    std::optional<boost::json::object> wait_pass_after(const sim_course& c, const std::string& since,
                                                       std::chrono::milliseconds timeout);
    /// Publishes a CourseSeen for each course and waits until each finished a pass that started
    /// after the publication (including a confirming pass when removals are pending). Returns
    /// what went wrong (the context's state and the daemons' logs), empty on success.
    std::string sync_all(const std::vector<sim_course>& courses, std::chrono::milliseconds timeout);
    /// Every daemon's log so far ("---- name" headers), the last `tail` bytes of it.
    std::string log_text(std::size_t tail = 200'000);
    /// The current time as the daemon writes it (RFC 3339, ms).
    static std::string now_text();

    /// Folds the change stream read so far: membership key → roles of `after` (removed: erased).
    std::map<std::string, std::set<std::string>> fold() const;

private:
    pipeline_env_options opts_;
    temp_dir dir_;
    std::unique_ptr<daemon_process> mock_;
    std::string bootstrap_;
    std::unique_ptr<lms_sim::server> sim_;
    std::filesystem::path config_;
    std::string token_;
    std::vector<std::unique_ptr<daemon_instance>> daemons_;
    std::unique_ptr<kafka::producer> producer_;
    std::unique_ptr<kafka::consumer> reader_;
    std::vector<change_record> changes_;
    int instance_counter_ = 0;
    std::string last_admin_answer_;
};

}  // namespace rostersync::test
