/**
 * livemig's test kit, for users' tests and researchers (add it in test scope): in-memory VMs
 * whose guests really write into their memory, the {@code mem:} provider, shaped in-memory
 * channels, and the deterministic virtual-time simulation. No production jar carries it.
 */
module io.livemig.testkit {
    requires transitive io.livemig.api;
    requires transitive io.livemig.engines;
    requires org.slf4j;

    exports io.livemig.kit;

    provides io.livemig.spi.HypervisorProvider with io.livemig.kit.InMemoryProvider;
}
