/**
 * livemig's test kit, for users' tests and researchers (add it in test scope): in-memory VMs
 * whose guests really write into their memory, the {@code mem:} provider, shaped in-memory
 * channels, the deterministic virtual-time simulation, and the provider contract suite
 * ({@code io.livemig.kit.contract}, which needs JUnit 5's API, an optional dependency). No
 * production jar carries it.
 */
module io.livemig.testkit {
    requires transitive io.livemig.api;
    requires transitive io.livemig.engines;
    requires org.slf4j;
    requires static org.junit.jupiter.api;

    exports io.livemig.kit;
    exports io.livemig.kit.contract;

    provides io.livemig.spi.HypervisorProvider with io.livemig.kit.InMemoryProvider;
}
