package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.UriQuery;
import io.livemig.spi.VmDescriptor;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;

/**
 * The {@code kvm:} provider: guests of livemig's {@link MicroVmm} on this host's /dev/kvm.
 *
 * <p>Source: {@code kvm:GUEST?mem=SIZE&vcpus=N&console=FILE} boots a Multiboot kernel (a file
 * path, or {@code dirtier} for the built-in guest, built with the host's binutils) and returns
 * it running. For the dirtier: {@code rate=BYTES_PER_SECOND} (default 0: unpaced),
 * {@code bpw=BYTES} per write (default 4096), {@code pattern=random|sequential},
 * {@code ws=BYTES} (default all RAM from 4 MiB; above 3 GiB it continues from 4 GiB).
 * {@code disk=FILE} gives the guest a virtio disk ({@link VirtioBlk}), the raw image FILE (with
 * its change log FILE.dsync), created sparse with {@code disksize=BYTES} (default 1G) if it does
 * not exist; an existing image keeps its size. The dirtier then runs its disk mode too, writing
 * {@code diskrate=BYTES_PER_SECOND} (default 20M; 0: checks only), with its working set after its
 * disk area; it checks its disk against zeros for the blocks it did not write, so it wants a new
 * image and refuses an existing one.
 * {@code replayable=true} declares the guest replayable for trace and replay
 * ({@link MicroVmmBuilder#replayable}): for a kernel file that is the caller's promise (no RDTSC,
 * time from the clock port); the dirtier then runs its replayable mode, which keeps it (its time
 * from port {@value MicroVmm#CLOCK_PORT}, its idle time slept through port
 * {@value MicroVmm#SLEEP_PORT}). A replayable guest with one vCPU and no disk offers an
 * {@link io.livemig.spi.ExecutionRecorder}; every {@code kvm:} target with one vCPU and no disk
 * offers an {@link io.livemig.spi.ExecutionReplayer}.
 * <p>Target: {@code kvm:?console=FILE&disk=FILE} creates a paused VM with the announced memory,
 * vCPUs and disk. A source with a disk needs {@code disk=FILE}: a new image is created with the
 * source disk's size; an existing one is a stale replica, opened as it is (never truncated) and
 * brought up to date by the migration, and must have the source disk's size.
 *
 * <p>Sizes take suffixes K, M, G (powers of 1024). The query is read by {@link UriQuery}: values
 * are percent-decoded ({@code %2F}, {@code %26}; a {@code +} stays a plus), and unknown or
 * repeated parameters are refused with the list of accepted ones.
 */
public final class KvmProvider implements HypervisorProvider {

    private static final Set<String> SOURCE_KEYS = Set.of("mem", "vcpus", "console", "rate", "bpw", "pattern", "ws",
            "disk", "disksize", "diskrate", "replayable");
    private static final Set<String> TARGET_KEYS = Set.of("console", "disk");
    /** The id of the one disk a {@code kvm:} guest has. */
    static final String DISK_ID = "vda";

    /** Creates the provider; {@link java.util.ServiceLoader} does, from module-info or META-INF/services. */
    public KvmProvider() {
    }

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
        UriQuery q = UriQuery.parse(uri, "kvm", SOURCE_KEYS);
        String guest = q.target();
        if (guest.isEmpty()) {
            throw new IllegalArgumentException("kvm: needs a guest, as kvm:PATH or kvm:dirtier (" + uri + ")");
        }
        long mem = q.sizeBytes("mem", 256L << 20);
        boolean dirtier = guest.equals("dirtier");
        byte[] image = dirtier ? GuestBuilder.dirtierImage() : Files.readAllBytes(Path.of(guest));
        Path diskFile = q.get("disk").map(Path::of).orElse(null);
        if (diskFile == null && (q.has("disksize") || q.has("diskrate"))) {
            throw new IllegalArgumentException("kvm: disksize= and diskrate= need disk=FILE (" + uri + ")");
        }
        if (dirtier && diskFile != null && Files.exists(diskFile)) {
            throw new IllegalArgumentException("kvm:dirtier checks its disk against what it wrote since boot, so it "
                    + "needs a new image; " + diskFile + " exists");
        }
        RawImage disk = diskFile == null ? null
                : RawImage.open(diskFile, DISK_ID, Files.exists(diskFile) ? 0
                        : q.sizeBytes("disksize", 1L << 30));
        boolean replayable = q.booleanValue("replayable", false);
        MicroVmm vmm;
        try {
            vmm = MicroVmm.builder().memoryBytes(mem).vcpus(q.intValue("vcpus", 1))
                    .console(console(q)).disk(disk).replayable(replayable).build();
        } catch (RuntimeException | IOException e) {
            if (disk != null) {
                disk.close();
            }
            throw e;
        }
        try {
            vmm.loadMultiboot(image);
            if (dirtier) {
                long base = 4L << 20;
                if (disk != null) {
                    base = DirtierParams.diskAreaEnd(disk.descriptor().sizeBytes());
                }
                long ws = q.sizeBytes("ws", mem - base);
                DirtierParams params = new DirtierParams(base, ws, (int) q.sizeBytes("bpw", 4096),
                        !"sequential".equals(q.get("pattern", "random")), q.sizeBytes("rate", 0), 500, 2000, 7)
                        .withReplayable(replayable);
                if (disk != null) {
                    params = params.withDisk(new DirtierParams.Disk(VirtioBlk.MMIO_BASE, disk.descriptor().sizeBytes(),
                            q.sizeBytes("diskrate", 20L << 20)));
                }
                params.writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
            }
            vmm.start();
            vmm.resume();
            return new KvmGuest(vmm);
        } catch (RuntimeException e) {
            vmm.close();
            throw e;
        }
    }

    @Override
    public MigrationTarget createTarget(URI uri, VmDescriptor descriptor) throws IOException {
        UriQuery q = UriQuery.parse(uri, "kvm", TARGET_KEYS);
        MemoryLayout layout = descriptor.memoryLayout();
        long memoryBytes = layout.memoryBytes();
        if (layout.pageSizeBytes() != KvmVm.PAGE_BYTES || memoryBytes > KvmVm.MAX_MEMORY_BYTES
                || !layout.equals(KvmVm.layoutFor(memoryBytes))) {
            throw new IllegalArgumentException("a KVM target holds RAM of 4 KiB pages from 0 up to 3 GiB and the rest "
                    + "from 4 GiB, at most " + (KvmVm.MAX_MEMORY_BYTES >> 30) + " GiB, not " + layout);
        }
        RawImage disk = targetDisk(q, descriptor);
        MicroVmm vmm;
        try {
            vmm = MicroVmm.builder().memoryBytes(memoryBytes).vcpus(descriptor.vcpuCount()).console(console(q))
                    .disk(disk).build();
        } catch (RuntimeException | IOException e) {
            if (disk != null) {
                disk.close();
            }
            throw e;
        }
        return new KvmGuest(vmm);
    }

    /**
     * The target's image for the source's disk, if it has one: {@code disk=FILE}, created with the
     * source disk's size, or opened as a stale replica if it exists.
     *
     * @throws IllegalArgumentException if the source has a disk and no {@code disk=} is given (or
     *                                  the reverse), the source has more than one, or an existing
     *                                  image's size is not the source disk's
     */
    static RawImage targetDisk(UriQuery q, VmDescriptor descriptor) throws IOException {
        String file = q.get("disk").orElse(null);
        if (descriptor.disks().isEmpty()) {
            if (file != null) {
                throw new IllegalArgumentException("kvm: target given disk=" + file + ", but the source VM has no disk");
            }
            return null;
        }
        if (descriptor.disks().size() > 1) {
            throw new IllegalArgumentException("a kvm: target holds one disk, the source has " + descriptor.disks());
        }
        DiskDescriptor source = descriptor.disks().get(0);
        if (file == null) {
            throw new IllegalArgumentException("the source VM has disk " + source.id() + " (" + source.sizeBytes()
                    + " bytes): give the target an image, kvm:?disk=FILE");
        }
        return openTargetImage(Path.of(file), source);
    }

    /**
     * Opens (or creates, sparse) the image a target receives {@code source} into. An existing file
     * is a stale replica: opened as it is, never truncated, and it must have the source disk's size.
     *
     * @param file   the image file
     * @param source the source's disk, whose id, size and block size the image takes
     * @return the open image, owned by the caller
     * @throws IllegalArgumentException if an existing image's size is not the source disk's
     * @throws IOException              if the image cannot be created or opened
     */
    public static RawImage openTargetImage(Path file, DiskDescriptor source) throws IOException {
        if (Files.exists(file) && Files.size(file) != source.sizeBytes()) {
            throw new IllegalArgumentException("the target's image " + file + " has " + Files.size(file)
                    + " bytes; the source's disk " + source.id() + " has " + source.sizeBytes()
                    + ": a replica must be the same size");
        }
        return RawImage.open(file, source.id(), source.sizeBytes(), source.blockSizeBytes());
    }

    private static OutputStream console(UriQuery q) throws IOException {
        String file = q.get("console").orElse(null);
        return file == null ? null : Files.newOutputStream(Path.of(file), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }
}
