package io.livemig.kit;

import io.livemig.api.ByteSize;
import io.livemig.kit.internal.GuestCpu;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.VmDescriptor;

import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

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
 * </ul>
 * {@link #open(URI)} creates such a VM and starts it (it "is running" when handed out);
 * {@link #createTarget(URI, VmDescriptor)} creates a paused one with the announced layout and
 * ignores the workload keys (the workload arrives with the migration).
 *
 * <p>Thread-safe and stateless.
 */
public final class InMemoryProvider implements HypervisorProvider {

    /** The scheme, {@code "mem"}. */
    public static final String SCHEME = "mem";

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
        Map<String, String> q = query(uri);
        InMemoryVm vm = builderFrom(q)
                .workload(new Workload(
                        WorkloadPattern.valueOf(q.getOrDefault("workload", "idle").toUpperCase(Locale.ROOT)),
                        size(q, "ws", 0), size(q, "rate", 0), (int) size(q, "write", 0),
                        Long.parseLong(q.getOrDefault("seed", "1"))))
                .prefill(Double.parseDouble(q.getOrDefault("prefill", "0")))
                .freePageHints(Boolean.parseBoolean(q.getOrDefault("hints", "false")))
                .build();
        vm.start();
        return vm;
    }

    @Override
    public InMemoryVm createTarget(URI uri, VmDescriptor descriptor) {
        if (!GuestCpu.STATE_FORMAT.equals(descriptor.vcpuStateFormat())) {
            throw new IllegalArgumentException("mem: targets take vCPU state '" + GuestCpu.STATE_FORMAT
                    + "', not '" + descriptor.vcpuStateFormat() + "'");
        }
        if (!descriptor.deviceIds().equals(List.of(InMemoryVm.WORKLOAD_DEVICE_ID))) {
            throw new IllegalArgumentException("mem: targets have exactly the device '"
                    + InMemoryVm.WORKLOAD_DEVICE_ID + "', the source announced " + descriptor.deviceIds());
        }
        query(uri);
        return InMemoryVm.builder().layout(descriptor.memoryLayout()).vcpus(descriptor.vcpuCount()).build();
    }

    private static InMemoryVm.Builder builderFrom(Map<String, String> q) {
        return InMemoryVm.builder()
                .memoryBytes(size(q, "size", 64L << 20))
                .pageSizeBytes((int) size(q, "page", 4096))
                .vcpus(Integer.parseInt(q.getOrDefault("vcpus", "1")));
    }

    private static long size(Map<String, String> q, String key, long defaultValue) {
        String v = q.get(key);
        return v == null ? defaultValue : ByteSize.parse(v).bytes();
    }

    private static Map<String, String> query(URI uri) {
        if (!SCHEME.equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("not a mem: URI: " + uri);
        }
        String ssp = uri.getSchemeSpecificPart();
        int at = ssp.indexOf('?');
        String query = at < 0 ? "" : ssp.substring(at + 1);
        Map<String, String> map = new HashMap<>();
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("malformed query parameter '" + pair + "' in " + uri);
            }
            String key = pair.substring(0, eq);
            if (!List.of("size", "page", "vcpus", "workload", "rate", "write", "ws", "prefill", "seed", "hints").contains(key)) {
                throw new IllegalArgumentException("unknown mem: parameter '" + key + "' in " + uri);
            }
            map.put(key, pair.substring(eq + 1));
        }
        return map;
    }
}
