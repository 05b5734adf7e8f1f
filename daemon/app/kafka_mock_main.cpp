// rostersync-kafka-mock: librdkafka's mock cluster as a process of its own, so it outlives the
// daemons of multi-process tests and trials. Prints the bootstrap address, then "ready";
// SIGTERM or SIGINT stops it.
//
// --control FIFO: reads fault commands, one per line, from a named pipe (made by the caller with
// mkfifo) and answers "ok <command>" or "error <why>" on stdout:
//   down BROKER | up BROKER                 take a broker down (connections closed, refused) or back
//   errors API COUNT ERROR                  the next COUNT requests of API key API fail with ERROR
//                                           (numbers: Produce 0, Fetch 1, OffsetCommit 8, …;
//                                           errors as Kafka codes, e.g. 19 NOT_ENOUGH_REPLICAS)
//   leader TOPIC PARTITION BROKER           move a partition's leader
//   rtt BROKER MILLISECONDS                 delay a broker's responses
#include "kafka/embedded.hpp"

#include <fcntl.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace {

std::string run_command(rd_kafka_mock_cluster_t* mc, const std::string& line)
{
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "down" || cmd == "up") {
        int broker = -1;
        if (!(in >> broker)) return "error usage: " + cmd + " BROKER";
        err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, broker) : rd_kafka_mock_broker_set_up(mc, broker);
    } else if (cmd == "errors") {
        int api = -1;
        int count = 0;
        int code = 0;
        if (!(in >> api >> count >> code) || count <= 0 || count > 1000) return "error usage: errors API COUNT ERROR";
        std::vector<rd_kafka_resp_err_t> errs(static_cast<std::size_t>(count), static_cast<rd_kafka_resp_err_t>(code));
        rd_kafka_mock_push_request_errors_array(mc, static_cast<int16_t>(api), errs.size(), errs.data());
    } else if (cmd == "leader") {
        std::string topic;
        int partition = -1;
        int broker = -1;
        if (!(in >> topic >> partition >> broker)) return "error usage: leader TOPIC PARTITION BROKER";
        err = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, broker);
    } else if (cmd == "rtt") {
        int broker = -1;
        int ms = 0;
        if (!(in >> broker >> ms)) return "error usage: rtt BROKER MILLISECONDS";
        err = rd_kafka_mock_broker_set_rtt(mc, broker, ms);
    } else {
        return "error unknown command: " + cmd;
    }
    if (err) return std::string("error ") + rd_kafka_err2str(err);
    return "ok " + line;
}

}  // namespace

int main(int argc, char** argv)
{
    int brokers = 1;
    std::vector<std::pair<std::string, int>> topics;
    std::string control;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--brokers" || a == "--topic" || a == "--control") && i + 1 < argc) {
            std::string v = argv[++i];
            if (a == "--control") {
                control = v;
            } else if (a == "--brokers") {
                brokers = std::stoi(v);
            } else {
                auto colon = v.rfind(':');
                topics.emplace_back(v.substr(0, colon), colon == std::string::npos ? 1 : std::stoi(v.substr(colon + 1)));
            }
        } else {
            std::cout << "Usage: rostersync-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--control FIFO]\n"
                         "Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGTERM/SIGINT.\n";
            return a == "--help" || a == "-h" ? 0 : 64;
        }
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    auto cluster = rostersync::kafka::embedded_cluster::start(brokers);
    if (!cluster) {
        std::cerr << "rostersync-kafka-mock: " << cluster.error() << "\n";
        return 1;
    }
    for (const auto& [name, partitions] : topics) {
        if (auto ec = (*cluster)->create_topic(name, partitions)) {
            std::cerr << "rostersync-kafka-mock: topic " << name << ": " << ec.message() << "\n";
            return 1;
        }
    }
    std::cout << "bootstrap: " << (*cluster)->bootstrap() << "\nready" << std::endl;
    if (!control.empty()) {
        // O_RDWR: the pipe never reports end-of-file between writers.
        int fd = ::open(control.c_str(), O_RDWR);
        if (fd < 0) {
            std::cerr << "rostersync-kafka-mock: cannot open the control pipe " << control << "\n";
            return 1;
        }
        std::thread([fd, mc = (*cluster)->mock()] {
            FILE* f = ::fdopen(fd, "r");
            char buf[512];
            while (f != nullptr && std::fgets(buf, sizeof buf, f) != nullptr) {
                std::string line(buf);
                while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
                if (line.empty()) continue;
                std::cout << run_command(mc, line) << std::endl;
            }
        }).detach();
    }
    int sig = 0;
    sigwait(&stop, &sig);
    return 0;
}
