// rostersync-kafka-mock: librdkafka's mock cluster as a process of its own, so it outlives the
// daemons of multi-process tests and trials. Prints the bootstrap address, then "ready";
// SIGTERM or SIGINT stops it.
#include "kafka/embedded.hpp"

#include <signal.h>

#include <iostream>
#include <string>

int main(int argc, char** argv)
{
    int brokers = 1;
    std::vector<std::pair<std::string, int>> topics;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--brokers" || a == "--topic") && i + 1 < argc) {
            std::string v = argv[++i];
            if (a == "--brokers") {
                brokers = std::stoi(v);
            } else {
                auto colon = v.rfind(':');
                topics.emplace_back(v.substr(0, colon), colon == std::string::npos ? 1 : std::stoi(v.substr(colon + 1)));
            }
        } else {
            std::cout << "Usage: rostersync-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
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
    int sig = 0;
    sigwait(&stop, &sig);
    return 0;
}
