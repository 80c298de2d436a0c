/**
 * livemig's engines: the {@link io.livemig.engine.LiveMigration} entry point, the strategies and
 * the wire protocol (internal), and the transports.
 * The in-memory kit that users' tests drive lives in {@code io.livemig.testkit}.
 */
module io.livemig.engines {
    requires transitive io.livemig.api;
    requires io.livemig.compress;
    requires org.lz4.java;
    requires org.slf4j;
    // HdrHistogram 2.2.2 names no module: this is the name derived from its jar.
    requires HdrHistogram;
    requires jdk.jfr;

    exports io.livemig.engine;
    exports io.livemig.transport;

    uses io.livemig.spi.HypervisorProvider;
}
