/**
 * The livemig API and SPI: interfaces and value types only, no third-party dependency.
 *
 * <ul>
 *   <li>{@code io.livemig.api} is for consumers (control planes): options, events, reports and
 *       the exception hierarchy.</li>
 *   <li>{@code io.livemig.spi} is for providers (hypervisor bindings): memory, dirty tracking,
 *       vCPUs, devices and the {@link io.livemig.spi.HypervisorProvider} that binds a URI scheme.</li>
 *   <li>{@code io.livemig.channel} is the transport contract shared by both sides.</li>
 * </ul>
 */
module io.livemig.api {
    exports io.livemig.api;
    exports io.livemig.spi;
    exports io.livemig.channel;

    uses io.livemig.spi.HypervisorProvider;
}
