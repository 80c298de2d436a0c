package io.livemig.xen;

import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;
import io.livemig.xen.internal.HvmState;
import io.livemig.xen.internal.XenAbi;
import io.livemig.xen.internal.XenCtrl;
import io.livemig.xen.internal.XenForeignMemory;
import io.livemig.xen.internal.XenStore;

import java.io.IOException;
import java.net.URI;
import java.util.Objects;
import java.util.Optional;

/**
 * The {@code xen:} provider: HVM (and PVH) domains of the Xen hypervisor this process runs
 * beside, in dom0, through libxenctrl and libxenforeignmemory bound with java.lang.foreign.
 *
 * <p>Source: {@code xen:DOMAIN}, where DOMAIN is a domain id ({@code xen:7}) or the name the
 * toolstack gave it ({@code xen:web1}, looked up in xenstore under {@code /local/domain/<id>/name}).
 * The domain keeps running; see {@link XenDomain} for memory, log-dirty tracking and state.
 * <p>Target: {@code xen:new} creates a new, paused HVM domain with the source's vCPUs and memory
 * layout through libxenctrl ({@code xc_domain_create}, {@code xc_domain_populate_physmap_exact}),
 * fills it, loads its HVM context and unpauses it. libxenctrl and not libxl, because libxl builds
 * a domain from a whole guest configuration (devices, device model, xenstore entries) and
 * restores it only from Xen's own migration stream, through libxenguest's
 * {@code xc_domain_restore} reading a file descriptor; livemig carries memory and state in its own
 * protocol, so it does what that restore does underneath: create, populate, write, set context.
 * The devices (QEMU, PV backends, xenstore entries) stay the toolstack's job; docs/xen.md says
 * what that means.
 *
 * <p>Libraries: the system's, by soname ({@value XenCtrl#SONAME}, {@value XenForeignMemory#SONAME},
 * {@value XenStore#SONAME} for names only), or others named by {@link XenLibraries}' system
 * properties or constructor. Where they cannot be loaded, or Xen refuses a control handle (not
 * dom0, not root), {@link #unavailableReason()} says so in one line, {@link #open} and
 * {@link #createTarget} fail with that line, and nothing else is affected: discovery of other
 * providers never loads a Xen library.
 *
 * <p>Thread-safe; cheap to construct (nothing is loaded until first used).
 */
public final class XenProvider implements HypervisorProvider {

    private final XenLibraries libraries;

    /** The provider ServiceLoader makes: the libraries {@link XenLibraries#fromSystemProperties()} names. */
    public XenProvider() {
        this(XenLibraries.fromSystemProperties());
    }

    /**
     * Creates a {@code XenProvider}.
     *
     * @param libraries the libraries to bind
     */
    public XenProvider(XenLibraries libraries) {
        this.libraries = Objects.requireNonNull(libraries, "libraries");
    }

    @Override
    public int apiVersion() {
        return API_VERSION;
    }

    @Override
    public String scheme() {
        return "xen";
    }

    @Override
    public String description() {
        return "Xen HVM domains through libxenctrl and libxenforeignmemory (dom0, root)";
    }

    /**
     * Checks that this host can serve {@code xen:}: the libraries load and export every function
     * used, and Xen grants a control handle ({@code xc_interface_open}, which needs dom0 and root).
     *
     * @return empty if usable, else one line saying why not
     */
    public Optional<String> unavailableReason() {
        try (XenHost ignored = new XenHost(libraries)) {
            return Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.of("xen: unavailable: " + e.getMessage()
                    + "; the provider needs Xen 4.17's libxenctrl and libxenforeignmemory (Debian: libxenmisc4.17)");
        } catch (XenException e) {
            return Optional.of("xen: unavailable: " + e.getMessage()
                    + "; run in a Xen dom0 as root (xc_interface_open opens /dev/xen/privcmd)");
        }
    }

    /**
     * Opens a running domain.
     *
     * @param uri {@code xen:ID} or {@code xen:NAME}
     * @throws IllegalArgumentException if the URI is malformed or names no usable domain
     * @throws IOException              if the provider is unavailable here (one line) or Xen fails
     */
    @Override
    public MigratableVm open(URI uri) throws IOException {
        String domain = target(uri);
        if (domain.isEmpty()) {
            throw new IllegalArgumentException("xen: needs a domain, as xen:ID or xen:NAME (" + uri + ")");
        }
        requireAvailable();
        try {
            return XenDomain.openSource(libraries, domid(domain));
        } catch (XenException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * Creates a paused domain to receive a migration.
     *
     * @param uri {@code xen:new}
     * @throws IllegalArgumentException if the URI is not {@code xen:new} or the descriptor is not a Xen domain's
     * @throws IOException              if the provider is unavailable here (one line) or Xen fails
     */
    @Override
    public MigrationTarget createTarget(URI uri, VmDescriptor descriptor) throws IOException {
        if (!target(uri).equals("new")) {
            throw new IllegalArgumentException("a xen: target is a new domain, xen:new (" + uri + ")");
        }
        if (descriptor.memoryLayout().pageSizeBytes() != XenAbi.PAGE_BYTES) {
            throw new IllegalArgumentException("a Xen domain has 4 KiB pages, not "
                    + descriptor.memoryLayout().pageSizeBytes());
        }
        if (!descriptor.vcpuStateFormat().equals(HvmState.FORMAT)) {
            throw new IllegalArgumentException("a Xen target loads vCPU state " + HvmState.FORMAT + ", not "
                    + descriptor.vcpuStateFormat());
        }
        if (!descriptor.deviceIds().isEmpty()) {
            throw new IllegalArgumentException("a Xen target takes no device state, but the source announced "
                    + descriptor.deviceIds());
        }
        requireAvailable();
        try {
            return XenDomain.createTarget(libraries, descriptor);
        } catch (XenException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    private void requireAvailable() throws IOException {
        Optional<String> reason = unavailableReason();
        if (reason.isPresent()) {
            throw new IOException(reason.get());
        }
    }

    private int domid(String domain) throws IOException {
        if (domain.chars().allMatch(Character::isDigit)) {
            try {
                return Integer.parseInt(domain);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("domain id out of range: " + domain, e);
            }
        }
        try {
            return XenStore.load(libraries.xenstore()).domainByName(domain).orElseThrow(
                    () -> new IllegalArgumentException("no Xen domain is named '" + domain + "'"));
        } catch (XenException e) {
            throw new IOException("looking up Xen domain '" + domain + "' failed: " + e.getMessage(), e);
        }
    }

    /** {@return the part of {@code xen:...} after the colon; refuses query parameters} */
    private static String target(URI uri) {
        if (!"xen".equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("not a xen: URI: " + uri);
        }
        String ssp = uri.getSchemeSpecificPart();
        if (ssp.indexOf('?') >= 0) {
            throw new IllegalArgumentException("xen: takes no parameters (" + uri + ")");
        }
        return ssp;
    }
}
