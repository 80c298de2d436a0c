package io.livemig.kit;

import io.livemig.api.ByteSize;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.UriQuery;
import io.livemig.spi.VmDescriptor;

import java.net.URI;
import java.util.Set;

/**
 * The {@code mem:} provider: {@link InMemoryVm}s in this JVM.
 *
 * <p>URI format: {@code mem:NAME?key=value&...} (NAME is free text for logs, e.g. {@code mem:vm1?size=1G}) with these keys, all optional:
 * <ul>
 *   <li>{@code size} — RAM, e.g. {@code 1G} (default 64M)</li>
 *   <li>{@code page} — page size in bytes (default 4096)</li>
 *   <li>{@code vcpus} — vCPU count (default 1)</li>
 *   <li>{@code workload} — {@code idle|sequential|random|hotcold} (default idle)</li>
 *   <li>{@code rate} — write rate in bytes per second, e.g. {@code 50M} (default 0)</li>
 *   <li>{@code write} — bytes per write (default 0: whole pages)</li>
 *   <li>{@code ws} — working set, e.g. {@code 256M} (default 0: all RAM)</li>
 *   <li>{@code prefill} — share of pages filled with random data at start, 0 to 1 (default 0)</li>
 *   <li>{@code seed} — seed (default 1)</li>
 *   <li>{@code hints} — {@code true} to report the pages outside the working set as free (default false)</li>
 *   <li>{@code disks} — disks, comma-separated, each {@code ID:SIZE} or {@code ID:SIZE:BLOCK}, e.g.
 *       {@code vda:1G,vdb:64M:512} (default none; block size 4096)</li>
 *   <li>{@code diskworkload} — {@code idle|sequential|random|hotcold}: how the guest writes each
 *       disk (default idle; see {@link InMemoryVm.Builder#diskWorkload})</li>
 *   <li>{@code diskrate} — bytes written per second to each disk, e.g. {@code 10M} (default 0)</li>
 *   <li>{@code diskws} — the disk working set from its first block, e.g. {@code 256M} (default 0: all of it)</li>
 * </ul>
 * {@link #open(URI)} creates such a VM and starts it (it "is running" when handed out);
 * {@link #createTarget(URI, VmDescriptor)} creates a paused one with the announced layout and
 * disks (new and empty) and ignores the workload and disk keys (the workloads arrive with the
 * migration).
 *
 * <p>The query is read by {@link UriQuery}: values are percent-decoded, a key given twice or
 * one not listed above is refused with the list of accepted keys.
 *
 * <p>Thread-safe and stateless.
 */
public final class InMemoryProvider implements HypervisorProvider {

    /** The scheme, {@code "mem"}. */
    public static final String SCHEME = "mem";

    private static final Set<String> KEYS = Set.of("size", "page", "vcpus", "workload", "rate", "write", "ws",
            "prefill", "seed", "hints", "disks", "diskworkload", "diskrate", "diskws");

    /** Creates the provider; ServiceLoader calls this. */
    public InMemoryProvider() {
    }

    @Override
    public int apiVersion() {
        return API_VERSION;
    }

    @Override
    public String scheme() {
        return SCHEME;
    }

    @Override
    public String description() {
        return "in-memory VMs in this JVM (the livemig test kit)";
    }

    @Override
    public InMemoryVm open(URI uri) {
        UriQuery q = query(uri);
        long seed = q.longValue("seed", 1);
        InMemoryVm vm = builderFrom(q)
                .workload(new Workload(q.enumValue("workload", WorkloadPattern.class, WorkloadPattern.IDLE),
                        q.sizeBytes("ws", 0), q.sizeBytes("rate", 0), (int) q.sizeBytes("write", 0), seed))
                .prefill(q.doubleValue("prefill", 0))
                .freePageHints(q.booleanValue("hints", false))
                .diskWorkload(new Workload(q.enumValue("diskworkload", WorkloadPattern.class, WorkloadPattern.IDLE),
                        q.sizeBytes("diskws", 0), q.sizeBytes("diskrate", 0), 0, seed))
                .build();
        vm.start();
        return vm;
    }

    /**
     * {@inheritDoc} The target gets a new, empty {@link InMemoryDisk} per disk the source
     * announced. (A test that wants a target to start from a stale replica builds it with
     * {@link InMemoryVm.Builder#disk(InMemoryDisk)} and {@link InMemoryVm.Builder#buildTarget}.)
     */
    @Override
    public InMemoryVm createTarget(URI uri, VmDescriptor descriptor) {
        query(uri);
        return InMemoryVm.builder().buildTarget(descriptor);
    }

    private static InMemoryVm.Builder builderFrom(UriQuery q) {
        InMemoryVm.Builder b = InMemoryVm.builder()
                .memoryBytes(q.sizeBytes("size", 64L << 20))
                .pageSizeBytes((int) q.sizeBytes("page", 4096))
                .vcpus(q.intValue("vcpus", 1));
        String disks = q.get("disks").orElse(null);
        if (disks != null) {
            for (String disk : disks.split(",")) {
                String[] f = disk.split(":");
                if (f.length < 2 || f.length > 3) {
                    throw new IllegalArgumentException("a disk is ID:SIZE or ID:SIZE:BLOCK, not '" + disk + "'");
                }
                b.disk(f[0], ByteSize.parse(f[1]).bytes(), f.length == 3 ? (int) ByteSize.parse(f[2]).bytes() : 4096);
            }
        }
        return b;
    }

    private static UriQuery query(URI uri) {
        return UriQuery.parse(uri, SCHEME, KEYS);
    }
}
