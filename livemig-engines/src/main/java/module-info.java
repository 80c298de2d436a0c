/**
 * livemig's engines: the {@link io.livemig.engine.LiveMigration} entry point, the strategies and
 * the wire protocol (internal), the transports, and the in-memory kit ({@code mem:} provider,
 * shaped channels) that users' tests drive.
 */
module io.livemig.engines {
    requires transitive io.livemig.api;
    requires io.livemig.compress;
    requires org.slf4j;

    exports io.livemig.engine;
    exports io.livemig.transport;
    exports io.livemig.kit;

    uses io.livemig.spi.HypervisorProvider;
    provides io.livemig.spi.HypervisorProvider with io.livemig.kit.InMemoryProvider;
}
