package io.livemig.spi;

import java.io.IOException;
import java.net.URI;

/**
 * Binds a URI scheme ({@code mem:}, {@code kvm:}, {@code qemu:}, {@code xen:}) to a hypervisor.
 * Found through {@link java.util.ServiceLoader}: register an implementation with
 * {@code provides io.livemig.spi.HypervisorProvider with ...} in module-info and in
 * {@code META-INF/services/io.livemig.spi.HypervisorProvider}.
 *
 * <p>Implementations need a public no-argument constructor, must be thread-safe, and must be
 * cheap to construct: discovery instantiates every provider on the path, and probes them with
 * {@link #apiVersion()} and {@link #scheme()} before using any.
 */
public interface HypervisorProvider {

    /** The SPI version this API jar defines; a provider built for another version is skipped with a warning. */
    int API_VERSION = 1;

    /** {@return the {@link #API_VERSION} the provider was compiled against} */
    int apiVersion();

    /** {@return the URI scheme this provider serves, lower case, without the colon (e.g. {@code "kvm"})} */
    String scheme();

    /** {@return a one-line description for diagnostics, e.g. {@code "KVM through /dev/kvm"}} */
    String description();

    /**
     * Opens a running VM on this host, the source of a migration.
     *
     * @param uri a URI of this provider's scheme; its format is the provider's to document
     * @return the VM handle, owned by the caller
     * @throws IllegalArgumentException if the URI is malformed for this provider
     * @throws IOException              if the VM cannot be reached or opened
     */
    MigratableVm open(URI uri) throws IOException;

    /**
     * Creates a paused VM with the given shape, to receive a migration.
     *
     * @param uri        a URI of this provider's scheme with destination-side settings
     * @param descriptor the shape the source announced in the handshake
     * @return the target, owned by the caller (the receiving engine)
     * @throws IllegalArgumentException if the descriptor cannot be honoured (for example an
     *                                  unknown vCPU state format)
     * @throws IOException              if the VM cannot be created
     */
    MigrationTarget createTarget(URI uri, VmDescriptor descriptor) throws IOException;
}
