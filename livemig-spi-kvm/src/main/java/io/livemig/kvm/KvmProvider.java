package io.livemig.kvm;

import io.livemig.api.ByteSize;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The {@code kvm:} provider: guests of livemig's {@link MicroVmm} on this host's /dev/kvm.
 *
 * <p>Source: {@code kvm:GUEST?mem=SIZE&vcpus=N&console=FILE} boots a Multiboot kernel (a file
 * path, or {@code dirtier} for the built-in guest, built with the host's binutils) and returns
 * it running. For the dirtier: {@code rate=BYTES_PER_SECOND} (default 0: unpaced),
 * {@code bpw=BYTES} per write (default 4096), {@code pattern=random|sequential},
 * {@code ws=BYTES} (default all RAM from 4 MiB; above 3 GiB it continues from 4 GiB).
 * <p>Target: {@code kvm:?console=FILE} creates a paused VM with the announced memory and vCPUs.
 *
 * <p>Sizes take suffixes K, M, G (powers of 1024). Unknown parameters are refused.
 */
public final class KvmProvider implements HypervisorProvider {

    private static final Set<String> SOURCE_KEYS = Set.of("mem", "vcpus", "console", "rate", "bpw", "pattern", "ws");
    private static final Set<String> TARGET_KEYS = Set.of("console");

    @Override
    public int apiVersion() {
        return API_VERSION;
    }

    @Override
    public String scheme() {
        return "kvm";
    }

    @Override
    public String description() {
        return "KVM guests of livemig's reference micro-VMM on /dev/kvm";
    }

    @Override
    public MigratableVm open(URI uri) throws IOException {
        Map<String, String> q = query(uri, SOURCE_KEYS);
        String guest = uri.getSchemeSpecificPart().split("\\?", 2)[0];
        if (guest.isEmpty()) {
            throw new IllegalArgumentException("kvm: needs a guest, as kvm:PATH or kvm:dirtier (" + uri + ")");
        }
        long mem = ByteSize.parse(q.getOrDefault("mem", "256M")).bytes();
        Path image;
        if (guest.equals("dirtier")) {
            image = GuestBuilder.dirtier(Files.createTempDirectory("livemig-guest"));
        } else {
            image = Path.of(guest);
        }
        MicroVmm vmm = MicroVmm.builder().memoryBytes(mem).vcpus(Integer.parseInt(q.getOrDefault("vcpus", "1")))
                .console(console(q)).build();
        try {
            vmm.loadMultiboot(Files.readAllBytes(image));
            if (guest.equals("dirtier")) {
                long ws = q.containsKey("ws") ? ByteSize.parse(q.get("ws")).bytes() : mem - (4L << 20);
                new DirtierParams(4L << 20, ws, (int) ByteSize.parse(q.getOrDefault("bpw", "4096")).bytes(),
                        !"sequential".equals(q.getOrDefault("pattern", "random")),
                        ByteSize.parse(q.getOrDefault("rate", "0")).bytes(), 500, 2000, 7)
                        .writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
            }
            vmm.start();
            vmm.resume();
            return new KvmGuest(vmm);
        } catch (RuntimeException | IOException e) {
            vmm.close();
            throw e;
        }
    }

    @Override
    public MigrationTarget createTarget(URI uri, VmDescriptor descriptor) throws IOException {
        Map<String, String> q = query(uri, TARGET_KEYS);
        MemoryLayout layout = descriptor.memoryLayout();
        long memoryBytes = layout.memoryBytes();
        if (layout.pageSizeBytes() != KvmVm.PAGE_BYTES || memoryBytes > KvmVm.MAX_MEMORY_BYTES
                || !layout.equals(KvmVm.layoutFor(memoryBytes))) {
            throw new IllegalArgumentException("a KVM target holds RAM of 4 KiB pages from 0 up to 3 GiB and the rest "
                    + "from 4 GiB, at most " + (KvmVm.MAX_MEMORY_BYTES >> 30) + " GiB, not " + layout);
        }
        MicroVmm vmm = MicroVmm.builder().memoryBytes(memoryBytes)
                .vcpus(descriptor.vcpuCount()).console(console(q)).build();
        return new KvmGuest(vmm);
    }

    private static OutputStream console(Map<String, String> q) throws IOException {
        String file = q.get("console");
        return file == null ? null : Files.newOutputStream(Path.of(file), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    private static Map<String, String> query(URI uri, Set<String> known) {
        Map<String, String> q = new HashMap<>();
        String ssp = uri.getRawSchemeSpecificPart();
        int at = ssp.indexOf('?');
        if (at >= 0) {
            for (String kv : ssp.substring(at + 1).split("&")) {
                if (kv.isEmpty()) {
                    continue;
                }
                String[] p = kv.split("=", 2);
                String key = URLDecoder.decode(p[0], StandardCharsets.UTF_8);
                if (!known.contains(key)) {
                    throw new IllegalArgumentException("unknown kvm: parameter '" + key + "'; known: " + known);
                }
                q.put(key, p.length > 1 ? URLDecoder.decode(p[1], StandardCharsets.UTF_8) : "");
            }
        }
        return q;
    }
}
