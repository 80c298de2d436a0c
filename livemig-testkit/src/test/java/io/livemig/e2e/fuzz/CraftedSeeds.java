package io.livemig.e2e.fuzz;

import io.livemig.api.Strategy;
import io.livemig.compress.DedupCodec;
import io.livemig.compress.PageEncoding;
import io.livemig.e2e.fuzz.FuzzScript.Op;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Seeds written by hand: the crafted inputs of the protocol tests (ProtocolRejectionTest,
 * SetupRefusalTest, StopCopyStateTest, PagesBatchTest) as scripts, each of which the destination
 * must refuse ({@code crafted-*}), and complete migrations made of the script's well-formed records
 * ({@code complete-*}), from which the fuzzer reaches every receiver state at once.
 */
final class CraftedSeeds {

    private static final int PAGE = 4096;
    /** The preamble's layout 1: 64 pages, a hole of 64, 64 more (as in the protocol tests). */
    private static final int TWO_REGIONS = 1 << FuzzScript.LAYOUT_SHIFT;
    private static final int HELLO_ONLY = 1 << FuzzScript.PREAMBLE_SHIFT;
    private static final int HELLO_AND_SETUP = 2 << FuzzScript.PREAMBLE_SHIFT;
    private static final int ADMITTED = HELLO_AND_SETUP | TWO_REGIONS | FuzzScript.VERIFY;
    private static final String FORMAT = Templates.vcpuFormat();

    private final FrameWriter writer = new FrameWriter(1 << 20);
    private final Map<String, byte[]> seeds = new LinkedHashMap<>();

    private CraftedSeeds() {
    }

    /** @return every hand-written seed by file name */
    static Map<String, byte[]> all() {
        CraftedSeeds s = new CraftedSeeds();
        s.handshake();
        s.setup();
        s.pages();
        s.stopCopy();
        s.complete();
        return Collections.unmodifiableMap(s.seeds);
    }

    private void seed(String name, int config, Consumer<FuzzScript.Writer> records) {
        FuzzScript.Writer w = new FuzzScript.Writer(config);
        records.accept(w);
        seeds.put(name, w.bytes());
    }

    private ByteBuffer hello(int minVersion, int maxVersion, long encodings, HandshakeFrames.Purpose purpose,
                             boolean auth) {
        return writer.write(new HandshakeFrames.Hello(minVersion, maxVersion, 1 << 20, encodings, purpose, auth,
                WellFormedFrames.SESSION_ID, WellFormedFrames.NONCE));
    }

    private ByteBuffer hello(long encodings) {
        return hello(Wire.VERSION, Wire.VERSION, encodings, HandshakeFrames.Purpose.NEW, false);
    }

    private static long bit(PageEncoding e) {
        return 1L << e.wireId();
    }

    private void handshake() {
        long all = WellFormedFrames.ALL_ENCODINGS;
        seed("crafted-hello-without-zero", 0, w -> w.frame(hello(all & ~bit(PageEncoding.ZERO))));
        seed("crafted-hello-without-raw", 0, w -> w.frame(hello(bit(PageEncoding.ZERO))));
        seed("crafted-hello-of-a-later-version", 0, w -> w.frame(hello(Wire.VERSION + 1, Wire.VERSION + 1, all,
                HandshakeFrames.Purpose.NEW, false)));
        seed("crafted-hello-to-recover", 0, w -> w.frame(hello(Wire.VERSION, Wire.VERSION, all,
                HandshakeFrames.Purpose.RECOVER, false)));
        seed("crafted-hello-to-settle", 0, w -> w.frame(hello(Wire.VERSION, Wire.VERSION, all,
                HandshakeFrames.Purpose.SETTLE, false)));
        seed("crafted-hello-too-large", 0, w -> {
            byte[] big = new byte[5000];
            big[0] = (byte) FrameType.HELLO.code();
            w.step(Op.RAW, big);
        });
        seed("crafted-secret-hello-without-auth", FuzzScript.SECRET, w -> w.frame(hello(all)));
        seed("crafted-secret-wrong-proof", FuzzScript.SECRET, w -> w.frame(hello(Wire.VERSION, Wire.VERSION, all,
                HandshakeFrames.Purpose.NEW, true)).frame(writer.write(new HandshakeFrames.Auth(new byte[32]))));
        seed("crafted-secret-admitted-then-aborted", FuzzScript.SECRET | ADMITTED, w -> w.frame(
                writer.write(new ControlFrames.Abort(ControlFrames.AbortCode.SOURCE_ERROR, "test over"))));
    }

    private ByteBuffer setupFrame(MemoryLayout layout, int vcpus, List<String> devices, String format, int batch) {
        return writer.write(new HandshakeFrames.Setup(Strategy.COLD, true, false,
                new VmDescriptor(layout, vcpus, devices, format), batch));
    }

    private ByteBuffer setupFrame(MemoryLayout layout) {
        return setupFrame(layout, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID), FORMAT, 16);
    }

    private void setup() {
        MemoryLayout small = MemoryLayout.contiguous(PAGE, 64L * PAGE);
        seed("crafted-setup-8-gib", HELLO_ONLY, w -> w.frame(setupFrame(MemoryLayout.contiguous(PAGE, 8L << 30))));
        seed("crafted-setup-sparse-huge-span", HELLO_ONLY, w -> w.frame(setupFrame(
                new MemoryLayout(PAGE, List.of(new MemoryRegion(1L << 36, 1))))));
        List<MemoryRegion> regions = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            regions.add(new MemoryRegion(2L * i, 1));
        }
        seed("crafted-setup-many-regions", HELLO_ONLY, w -> w.frame(setupFrame(new MemoryLayout(PAGE, regions))));
        seed("crafted-setup-4096-vcpus", HELLO_ONLY, w -> w.frame(setupFrame(small, 4096,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID), FORMAT, 16)));
        List<String> devices = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            devices.add("dev" + i);
        }
        seed("crafted-setup-1000-devices", HELLO_ONLY, w -> w.frame(setupFrame(small, 1, devices, FORMAT, 16)));
        seed("crafted-setup-batch-beyond-a-frame", HELLO_ONLY, w -> w.frame(setupFrame(small, 1,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID), FORMAT, 1 << 20)));
        seed("crafted-setup-other-vcpu-format", HELLO_ONLY, w -> w.frame(setupFrame(small, 1,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID), "kvm-x86-v1", 16)));
        seed("crafted-setup-devices-the-target-lacks", HELLO_ONLY, w -> w.frame(setupFrame(small, 1,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID, "virtio-net0"), FORMAT, 16)));
        seed("crafted-setup-twice", ADMITTED, w -> w.frame(setupFrame(small)));
        seed("crafted-setup-before-hello", 0, w -> w.frame(setupFrame(small)));
    }

    /** @return a PAGES frame of one entry whose declared length and actual payload may differ */
    private ByteBuffer onePage(long page, PageEncoding encoding, int length, int payloadBytes) {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
        b.putLong(page).put((byte) encoding.wireId()).putInt(length);
        for (int i = 0; i < payloadBytes; i++) {
            b.put((byte) 7);
        }
        return writer.finish();
    }

    private ByteBuffer dedup(long page, long referenced, byte[] content) {
        ByteBuffer payload = ByteBuffer.allocate(DedupCodec.PAYLOAD_BYTES);
        DedupCodec.writeReference(payload, 0, referenced, DedupCodec.hash(ByteBuffer.wrap(content), 0, PAGE));
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(2);
        b.putLong(1).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(new byte[PAGE]);
        b.putLong(page).put((byte) PageEncoding.DEDUP.wireId()).putInt(payload.capacity()).put(payload.array());
        return writer.finish();
    }

    private void pages() {
        seed("crafted-pages-corrupt-crc", ADMITTED, w -> {
            ByteBuffer frame = onePage(3, PageEncoding.RAW, PAGE, PAGE);
            frame.put(40, (byte) (frame.get(40) ^ 1));
            w.raw(frame);
        });
        seed("crafted-pages-in-the-hole", ADMITTED, w -> w.frame(onePage(100, PageEncoding.RAW, PAGE, PAGE)));
        seed("crafted-pages-past-the-end", ADMITTED, w -> w.frame(onePage(Long.MAX_VALUE, PageEncoding.ZERO, 0, 0)));
        seed("crafted-pages-later-entry-out-of-range", ADMITTED, w -> {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(2);
            b.putLong(1).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(new byte[PAGE]);
            b.putLong(9999).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            w.frame(writer.finish());
        });
        seed("crafted-pages-payload-cut-short", ADMITTED, w -> w.frame(onePage(5, PageEncoding.RAW, PAGE, PAGE - 100)));
        seed("crafted-pages-ends-inside-a-field", ADMITTED, w -> {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
            b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putShort((short) 0);
            w.frame(writer.finish());
        });
        seed("crafted-pages-raw-of-100-bytes", ADMITTED, w -> w.frame(onePage(5, PageEncoding.RAW, 100, 100)));
        seed("crafted-pages-count-beyond-the-frame", ADMITTED, w -> {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1_000_000);
            b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            w.frame(writer.finish());
        });
        seed("crafted-pages-lz4-garbage", ADMITTED, w -> w.frame(onePage(5, PageEncoding.LZ4, 10, 10)));
        seed("crafted-pages-more-entries-than-announced", ADMITTED, w -> {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(17);
            for (int i = 0; i < 17; i++) {
                b.putLong(i).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            }
            w.frame(writer.finish());
        });
        seed("crafted-pages-dedup-negative-page", ADMITTED, w -> w.frame(dedup(2, -1L, new byte[PAGE])));
        seed("crafted-pages-dedup-into-the-hole", ADMITTED, w -> w.frame(dedup(2, 100, new byte[PAGE])));
        seed("crafted-pages-dedup-content-differs", ADMITTED, w -> {
            byte[] other = new byte[PAGE];
            other[0] = 1;
            w.frame(dedup(2, 1, other));
        });
        seed("crafted-unknown-frame-type", ADMITTED, w -> {
            ByteBuffer b = writer.begin(FrameType.PAGES);
            b.put(0, (byte) 0x33);
            w.frame(writer.finish());
        });
        seed("crafted-shorter-than-a-header", ADMITTED, w -> w.step(Op.RAW, new byte[] {3, 0, 0}));
        seed("crafted-ends-mid-migration", ADMITTED, w -> w.frame(onePage(5, PageEncoding.RAW, PAGE, PAGE)));
        seed("crafted-cut-mid-migration", ADMITTED, w -> w.frame(onePage(5, PageEncoding.RAW, PAGE, PAGE))
                .step(Op.CUT, new byte[0]));
        seed("crafted-commit-before-switchover", ADMITTED, w -> w.frame(
                writer.write(new SwitchoverFrames.Commit(1, 1, false))));
        seed("crafted-missing-pages-without-postcopy", ADMITTED, w -> w
                .frame(writer.write(new SwitchoverFrames.Switchover()))
                .frame(writer.write(new PageBitmap(FrameType.MISSING_PAGES, 0, new long[] {-1L}))));
        seed("crafted-postcopy-batch-with-a-bad-entry", ADMITTED | FuzzScript.MAY_POSTCOPY, w -> {
            w.frame(writer.write(new SwitchoverFrames.Switchover()))
                    .frame(writer.write(new PageBitmap(FrameType.MISSING_PAGES, 0, new long[] {-1L})));
            states(w, 1);
            w.frame(writer.write(new SwitchoverFrames.Commit(1, 1, true)));
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(1).putInt(2);
            b.putLong(3).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            b.putLong(4).put((byte) PageEncoding.XBZRLE.wireId()).putInt(6).put(new byte[] {10, 4, 1, 2, 3, 4});
            w.frame(writer.finish());
        });
    }

    /** Adds the state of a fresh in-memory VM of {@code vcpus}: what COMMIT loads. */
    private void states(FuzzScript.Writer w, int vcpus) {
        for (int i = 0; i < vcpus; i++) {
            w.frame(writer.write(new SwitchoverFrames.VcpuStateFrame(new VcpuState(i, FORMAT,
                    Templates.vcpuState(vcpus, i)))));
        }
        w.frame(writer.write(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID,
                Templates.deviceState())));
    }

    private ByteBuffer vcpuState(String format, int bytes) {
        return writer.write(new SwitchoverFrames.VcpuStateFrame(new VcpuState(0, format, new byte[bytes])));
    }

    private ByteBuffer deviceState(String id, int bytes) {
        return writer.write(new SwitchoverFrames.DeviceStateFrame(id, new byte[bytes]));
    }

    /** Adds a crafted seed that is admitted, switches over, then sends {@code frames}. */
    private void stopped(String name, Consumer<FuzzScript.Writer> frames) {
        seed(name, ADMITTED, w -> {
            w.frame(writer.write(new SwitchoverFrames.Switchover()));
            frames.accept(w);
        });
    }

    private void stopCopy() {
        String workload = InMemoryVm.WORKLOAD_DEVICE_ID;
        stopped("crafted-state-beyond-the-cap", w -> w.frame(vcpuState(FORMAT, 35_000))
                .frame(deviceState(workload, 35_000)));
        stopped("crafted-state-twice-for-a-device", w -> w.frame(deviceState(workload, 16))
                .frame(deviceState(workload, 16)));
        stopped("crafted-state-for-an-unknown-device", w -> w.frame(deviceState("virtio-net0", 16)));
        stopped("crafted-state-in-another-format", w -> w.frame(vcpuState("kvm-x86-v1", 64)));
        stopped("crafted-commit-without-state", w -> w.frame(writer.write(new SwitchoverFrames.Commit(1, 1, false))));
        stopped("crafted-state-the-target-refuses", w -> w.frame(vcpuState(FORMAT, 3)).frame(deviceState(workload, 3))
                .frame(writer.write(new SwitchoverFrames.Commit(1, 1, false))));
    }

    /** Control records of the script: kind and twist bytes (see {@link WellFormedFrames#control}). */
    private static byte[] control(int kind) {
        return new byte[] {(byte) kind, 0};
    }

    /**
     * Puts one entry of a {@link Op#PAGES} record: the encoding's index, the page, change mode 1 (a
     * 4-byte pattern over the page) and, for dedup, a reference to page 0 as the target holds it.
     */
    private static void entry(ByteBuffer body, int encoding, int page) {
        body.put((byte) encoding).putShort((short) page).put((byte) 1).put((byte) 3)
                .put((byte) page).put((byte) 0x5A).put((byte) encoding).put((byte) 1);
        if (PageEncoding.values()[encoding] == PageEncoding.DEDUP) {
            body.put((byte) 0).putShort((short) 0).put((byte) 1);
        }
    }

    private void complete() {
        // Well-formed records only: the script's own frames carry each migration to its end.
        byte[] vcpu = {0, 0};
        byte[] device = {1, 0};
        byte[] switchover = control(0);
        byte[] commit = control(1);
        seed("complete-cold", HELLO_AND_SETUP, w -> w.step(Op.CONTROL, switchover).step(Op.STATE, vcpu)
                .step(Op.STATE, device).step(Op.CONTROL, commit));
        seed("complete-precopy-every-encoding-verified", HELLO_AND_SETUP | FuzzScript.VERIFY | FuzzScript.TWO_VCPUS,
                w -> {
                    for (int encoding = 0; encoding < 6; encoding++) {
                        ByteBuffer body = ByteBuffer.allocate(256).put((byte) 0).put((byte) 4); // round 0, 4 entries
                        for (int i = 0; i < 4; i++) {
                            entry(body, encoding, 4 * encoding + i);
                        }
                        w.step(Op.PAGES, java.util.Arrays.copyOf(body.array(), body.position()));
                    }
                    w.step(Op.CONTROL, new byte[] {3, 0, 1, 2, 3, 4, 5, 6, 7, 8}); // PING
                    w.step(Op.CONTROL, switchover).step(Op.STATE, vcpu).step(Op.STATE, new byte[] {0, 1})
                            .step(Op.STATE, device).step(Op.CONTROL, commit);
                    w.step(Op.DIGESTS, new byte[] {0, 0, 0, 63, 1}).step(Op.CONTROL, control(4));
                });
        int postcopy = HELLO_AND_SETUP | FuzzScript.MAY_POSTCOPY | FuzzScript.VERIFY;
        Consumer<FuzzScript.Writer> resumeMissingAll = w -> w.step(Op.CONTROL, switchover)
                .step(Op.MISSING, new byte[] {0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1})
                .step(Op.STATE, vcpu).step(Op.STATE, device).step(Op.CONTROL, commit);
        Consumer<FuzzScript.Writer> endAndVerify = w -> w.step(Op.CONTROL, control(2))
                .step(Op.DIGESTS, new byte[] {0, 0, 0, 63, 1}).step(Op.CONTROL, control(4));
        seed("complete-postcopy", postcopy, w -> {
            resumeMissingAll.accept(w);
            zeroPages(w, 0, 64);
            endAndVerify.accept(w);
        });
        byte[] comesBack = {1};
        seed("complete-postcopy-recovered-after-a-cut", postcopy, w -> {
            resumeMissingAll.accept(w);
            zeroPages(w, 0, 32);
            w.step(Op.CUT, comesBack).step(Op.CONTROL, new byte[] {7, 1}) // HELLO, purpose RECOVER
                    .step(Op.CONTROL, control(6)); // RECOVER_ACK
            zeroPages(w, 32, 64);
            endAndVerify.accept(w);
        });
        seed("complete-cold-settled-after-a-cut", HELLO_AND_SETUP | FuzzScript.VERIFY, w -> w
                .step(Op.CONTROL, switchover).step(Op.STATE, vcpu).step(Op.STATE, device).step(Op.CONTROL, commit)
                .step(Op.CUT, comesBack).step(Op.CONTROL, new byte[] {7, 2})); // HELLO, purpose SETTLE
        seed("crafted-settle-after-a-cut-in-stop-copy", HELLO_AND_SETUP, w -> w.step(Op.CONTROL, switchover)
                .step(Op.CUT, comesBack).step(Op.CONTROL, new byte[] {7, 2}));
        seed("crafted-recovery-of-another-migration", postcopy, w -> {
            resumeMissingAll.accept(w);
            byte[] otherSession = new byte[HandshakeFrames.SESSION_ID_BYTES];
            otherSession[0] = 1;
            w.step(Op.CUT, comesBack).frame(writer.write(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION,
                    1 << 20, WellFormedFrames.ALL_ENCODINGS, HandshakeFrames.Purpose.RECOVER, false, otherSession,
                    WellFormedFrames.NONCE)));
        });
        seed("complete-with-the-secret", FuzzScript.SECRET | HELLO_AND_SETUP, w -> w.step(Op.CONTROL, switchover)
                .step(Op.STATE, vcpu).step(Op.STATE, device).step(Op.CONTROL, commit));
    }

    /** Adds PAGES records that send pages {@code [from, to)} of the first layout as zero pages, 8 a frame. */
    private static void zeroPages(FuzzScript.Writer w, int from, int to) {
        for (int first = from; first < to; first += 8) {
            byte[] body = new byte[2 + 8 * 4];
            body[0] = 1;
            body[1] = 8;
            for (int i = 0; i < 8; i++) {
                // a zero page (encoding 0), page index first + i, change mode 2 (zeros)
                body[4 + 4 * i] = (byte) (first + i);
                body[5 + 4 * i] = 2;
            }
            w.step(Op.PAGES, body);
        }
    }
}
