package io.livemig.e2e.fuzz;

import io.livemig.api.Strategy;
import io.livemig.compress.DedupCodec;
import io.livemig.compress.Lz4Codec;
import io.livemig.compress.PageCodec;
import io.livemig.compress.PageEncoding;
import io.livemig.compress.Xbzrle;
import io.livemig.compress.ZstdCodec;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.PostcopyFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Makes well-formed forward frames from a record's body, for the session a {@link ScriptedSource}
 * has opened so far: pages of the announced layout in every encoding (compressed for real, deltas
 * and dedup references against what the target holds now), state in the target's format, bitmaps
 * of RAM pages, digests of the target's pages, control frames with the counts a faithful source
 * would put. The body picks the choices and, now and then, a field a faithful source would not
 * write, so that the destination's checks past the CRC and the frame's own syntax get exercised.
 *
 * <p>Not thread-safe: the destination's receiving thread calls it, through the channel.
 */
final class WellFormedFrames {

    /** The layouts a preamble's SETUP may announce: contiguous, with a hole, small pages, a hole and mid-size pages. */
    static final List<MemoryLayout> LAYOUTS = List.of(
            MemoryLayout.contiguous(4096, 64 * 4096L),
            new MemoryLayout(4096, List.of(new MemoryRegion(0, 64), new MemoryRegion(128, 64))),
            MemoryLayout.contiguous(512, 32 * 512L),
            new MemoryLayout(1024, List.of(new MemoryRegion(0, 16), new MemoryRegion(1000, 16))));
    /** Every page encoding, offered in the preamble's HELLO. */
    static final long ALL_ENCODINGS = bits(PageEncoding.values());
    /** The session id and nonce of the script's HELLOs: the destination needs neither to be random. */
    static final byte[] SESSION_ID = new byte[HandshakeFrames.SESSION_ID_BYTES];
    static final byte[] NONCE = new byte[HandshakeFrames.NONCE_BYTES];
    /** Entries in a batch of the preamble's SETUP. */
    static final int BATCH_PAGES = 16;
    private static final PageEncoding[] ENCODINGS = PageEncoding.values();
    /** Codecs and buffers per page size, kept across inputs: a Zstd context is native memory. */
    private static final ThreadLocal<Map<Integer, Scratch>> SCRATCH = ThreadLocal.withInitial(HashMap::new);
    /** The frame writer, kept across inputs: its buffer is direct memory. */
    private static final ThreadLocal<FrameWriter> WRITER =
            ThreadLocal.withInitial(() -> new FrameWriter(ScriptedSource.MAX_MESSAGE_BYTES));

    private final ScriptedSource.Session session;
    private final FrameWriter writer = WRITER.get();
    private final CRC32C crc = new CRC32C();
    private Scratch scratch;

    /**
     * @param session what the script announced so far; each frame made is valid until the next is
     *                made on this thread
     */
    WellFormedFrames(ScriptedSource.Session session) {
        this.session = session;
    }

    private static long bits(PageEncoding... encodings) {
        long b = 0;
        for (PageEncoding e : encodings) {
            b |= 1L << e.wireId();
        }
        return b;
    }

    /** @return the HELLO of a new migration, proposing 1 MiB frames and every encoding */
    ByteBuffer hello(boolean auth) {
        return hello(auth, HandshakeFrames.Purpose.NEW);
    }

    /** @return a HELLO for {@code purpose} in the script's session, proposing 1 MiB frames and every encoding */
    ByteBuffer hello(boolean auth, HandshakeFrames.Purpose purpose) {
        return writer.write(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, 1 << 20, ALL_ENCODINGS, purpose,
                auth, SESSION_ID, NONCE));
    }

    /** @return the SETUP of the configuration byte (see {@link FuzzScript}) for the in-memory VM's shape */
    ByteBuffer setup(int config) {
        boolean mayPostcopy = (config & FuzzScript.MAY_POSTCOPY) != 0;
        int vcpus = (config & FuzzScript.TWO_VCPUS) != 0 ? 2 : 1;
        VmDescriptor descriptor = new VmDescriptor(LAYOUTS.get((config >> FuzzScript.LAYOUT_SHIFT) & 3), vcpus,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID), Templates.vcpuFormat());
        return writer.write(new HandshakeFrames.Setup(mayPostcopy ? Strategy.POSTCOPY : Strategy.PRECOPY,
                (config & FuzzScript.VERIFY) != 0, mayPostcopy, descriptor, BATCH_PAGES));
    }

    /** @return AUTH carrying {@code proof}, padded or cut to its length */
    ByteBuffer auth(byte[] proof) {
        return writer.write(new HandshakeFrames.Auth(Arrays.copyOf(proof, HandshakeFrames.PROOF_BYTES)));
    }

    /** @return a PAGES frame of up to 8 entries: mostly RAM pages, every encoding, payloads that decode */
    ByteBuffer pages(Body b) {
        MemoryLayout layout = session.layout();
        int pageSize = layout.pageSizeBytes();
        scratch = SCRATCH.get().computeIfAbsent(pageSize, Scratch::new);
        int round = b.u8();
        int count = b.u8() % 9;
        ByteBuffer out = writer.begin(FrameType.PAGES).putInt(round).putInt(count);
        int countAt = out.position() - 4;
        int written = 0;
        for (int i = 0; i < count; i++) {
            int choice = b.u8();
            long page = page(layout, b, choice);
            PageEncoding encoding = ENCODINGS[choice % ENCODINGS.length];
            byte[] old = session.targetPage(page, pageSize);
            byte[] now = changed(old, b);
            byte[] payload = payload(encoding, page, old, now, layout, b);
            if (payload == null) {
                encoding = PageEncoding.RAW;
                payload = now;
            }
            int length = payload.length;
            if ((choice & 0xC0) == 0xC0) {
                length += b.u8() % 5 - 2; // a length that lies, now and then
            }
            if (Wire.PAGE_ENTRY_BYTES + payload.length > writer.payloadRoom()) {
                break;
            }
            out.putLong(page).put((byte) encoding.wireId()).putInt(length).put(payload);
            written++;
        }
        out.putInt(countAt, (written == count || b.u8() % 4 == 0) ? count : written);
        return writer.finish();
    }

    /** @return a RAM page of the layout, or now and then one outside it */
    private static long page(MemoryLayout layout, Body b, int choice) {
        int index = b.u16();
        if ((choice & 0xE0) == 0xE0) {
            return switch (index % 4) {
                case 0 -> -1L;
                case 1 -> layout.pageSpan();
                case 2 -> layout.regions().getFirst().endPage(); // a hole, or the end
                default -> b.u64();
            };
        }
        return ramPage(layout, index);
    }

    /** @return the {@code index}-th RAM page of the layout, modulo its RAM pages */
    static long ramPage(MemoryLayout layout, long index) {
        long i = Math.floorMod(index, layout.pageCount());
        for (MemoryRegion r : layout.regions()) {
            if (i < r.pageCount()) {
                return r.firstPage() + i;
            }
            i -= r.pageCount();
        }
        throw new IllegalStateException("unreachable");
    }

    /** @return {@code old} with a few changes the body says: bytes set, a run filled, a pattern, or zeros */
    private static byte[] changed(byte[] old, Body b) {
        byte[] now = old.clone();
        int mode = b.u8() & 3;
        switch (mode) {
            case 0 -> {
                int changes = b.u8() % 16;
                for (int i = 0; i < changes; i++) {
                    now[b.u16() % now.length] = (byte) b.u8();
                }
            }
            case 1 -> {
                byte[] pattern = b.bytes(1 + b.u8() % 32);
                for (int i = 0; i < now.length && pattern.length > 0; i++) {
                    now[i] = pattern[i % pattern.length];
                }
            }
            case 2 -> Arrays.fill(now, (byte) 0);
            default -> {
                int from = b.u16() % now.length;
                Arrays.fill(now, from, Math.min(now.length, from + b.u16() % 2048), (byte) b.u8());
            }
        }
        return now;
    }

    /** @return the payload of {@code now} in {@code encoding}, or null to send it raw instead */
    private byte[] payload(PageEncoding encoding, long page, byte[] old, byte[] now, MemoryLayout layout, Body b) {
        int pageSize = old.length;
        ByteBuffer previous = scratch.previous.clear().put(old).flip();
        ByteBuffer current = scratch.current.clear().put(now).flip();
        ByteBuffer encoded = scratch.encoded.clear();
        return switch (encoding) {
            case ZERO -> new byte[0];
            case RAW -> now;
            case XBZRLE -> {
                int n = Xbzrle.encode(previous, 0, current, 0, pageSize, encoded, pageSize);
                if (n == 0) {
                    yield uleb(pageSize); // no change: one zero run over the whole page
                }
                yield n < 0 ? null : bytes(encoded, n);
            }
            case LZ4 -> compressed(scratch.lz4, page, pageSize);
            case ZSTD -> compressed(scratch.zstd, page, pageSize);
            case DEDUP -> {
                long source = page(layout, b, b.u8());
                byte[] content = (b.u8() & 7) == 0 ? now : session.targetPage(source, pageSize);
                ByteBuffer reference = ByteBuffer.allocate(DedupCodec.PAYLOAD_BYTES);
                DedupCodec.writeReference(reference, 0, source, DedupCodec.hash(ByteBuffer.wrap(content), 0, pageSize));
                yield reference.array();
            }
        };
    }

    private byte[] compressed(PageCodec codec, long page, int pageSize) {
        int n = codec.encode(page, scratch.current, 0, scratch.encoded, 0, pageSize - 1);
        return n <= 0 ? null : bytes(scratch.encoded, n);
    }

    private static byte[] bytes(ByteBuffer buffer, int n) {
        byte[] b = new byte[n];
        buffer.get(0, b);
        return b;
    }

    private static byte[] uleb(int value) {
        ByteBuffer b = ByteBuffer.allocate(5);
        do {
            int low = value & 0x7F;
            value >>>= 7;
            b.put((byte) (value == 0 ? low : low | 0x80));
        } while (value != 0);
        return Arrays.copyOf(b.array(), b.position());
    }

    /** The encoders and buffers for one page size. */
    private static final class Scratch {
        final ByteBuffer previous;
        final ByteBuffer current;
        final ByteBuffer encoded;
        final PageCodec lz4;
        final PageCodec zstd;

        Scratch(int pageSize) {
            previous = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
            current = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
            encoded = ByteBuffer.allocateDirect(2 * pageSize + 64).order(ByteOrder.nativeOrder());
            lz4 = new Lz4Codec(pageSize);
            zstd = new ZstdCodec(pageSize, 3);
        }
    }

    /** @return a VCPU_STATE or DEVICE_STATE frame: mostly a state the in-memory VM loads, for a part it has */
    ByteBuffer state(Body b) {
        int kind = b.u8();
        int which = b.u8();
        int mode = (kind >> 1) & 3;
        if ((kind & 1) == 0) {
            int vcpus = session.vcpuCount();
            int index = which % (vcpus + 1);
            String format = (kind & 0x10) != 0 ? "kvm-x86-v1" : Templates.vcpuFormat();
            byte[] data = data(mode, Templates.vcpuState(Math.max(1, vcpus), Math.min(index, vcpus - 1)), b);
            return writer.write(new SwitchoverFrames.VcpuStateFrame(new VcpuState(index, format, data)));
        }
        List<String> ids = session.deviceIds();
        String id = which % (ids.size() + 1) == ids.size() ? "virtio-net0" : ids.get(which % (ids.size() + 1));
        return writer.write(new SwitchoverFrames.DeviceStateFrame(id, data(mode, Templates.deviceState(), b)));
    }

    /** @return the template (modes 0 and 1), the template overlaid with the body (2), or the body (3) */
    private static byte[] data(int mode, byte[] template, Body b) {
        return switch (mode) {
            case 0, 1 -> template;
            case 2 -> {
                byte[] data = template.clone();
                byte[] overlay = b.rest();
                System.arraycopy(overlay, 0, data, 0, Math.min(overlay.length, data.length));
                yield data;
            }
            default -> b.rest();
        };
    }

    /**
     * @return SWITCHOVER, COMMIT, POSTCOPY_END, PING, DIGESTS_END, ABORT, RECOVER_ACK, HELLO (for a
     *         new migration, a recovery or a settling, by the twist) or SETUP
     */
    ByteBuffer control(Body b) {
        int kind = b.u8() % 9;
        int twist = b.u8();
        return switch (kind) {
            case 0 -> writer.write(new SwitchoverFrames.Switchover());
            case 1 -> writer.write(new SwitchoverFrames.Commit(
                    (twist & 1) != 0 ? b.u8() : session.vcpuCount(),
                    (twist & 2) != 0 ? b.u8() : session.deviceIds().size(),
                    session.missingSent() ^ ((twist & 4) != 0)));
            case 2 -> writer.write(new PostcopyFrames.PostcopyEnd());
            case 3 -> writer.write(new ControlFrames.Ping(b.u64()));
            case 4 -> writer.write(new VerifyFrames.DigestsEnd(
                    (twist & 1) != 0 ? b.u64() : session.layout().pageCount()));
            case 5 -> writer.write(new ControlFrames.Abort(ControlFrames.AbortCode.values()[twist
                    % ControlFrames.AbortCode.values().length], "the fuzzer says stop"));
            case 6 -> writer.write(new PostcopyFrames.RecoverAck());
            case 7 -> hello(session.holdsSecret(), HandshakeFrames.Purpose.values()[twist % 3]);
            default -> setup(twist);
        };
    }

    /** @return a MISSING_PAGES chunk at a region's start, its bits mostly RAM pages */
    ByteBuffer missing(Body b) {
        MemoryLayout layout = session.layout();
        MemoryRegion region = layout.regions().get(b.u8() % layout.regions().size());
        int twist = b.u8();
        int firstWord = (twist & 1) != 0 ? b.u16() : (int) (region.firstPage() >>> 6);
        long[] words = new long[1 + b.u8() % 4];
        PageSet ram = session.ramPages();
        for (int i = 0; i < words.length; i++) {
            long bits = b.remaining() >= 8 ? b.u64() : -1L;
            int word = firstWord + i;
            words[i] = (twist & 2) != 0 ? bits : bits & (word < ram.wordCount() ? ram.word(word) : 0);
        }
        return writer.write(new PageBitmap(FrameType.MISSING_PAGES, firstWord, words));
    }

    /** @return DIGESTS over a run of one region: the CRC32C of what the target holds, now and then one wrong */
    ByteBuffer digests(Body b) {
        MemoryLayout layout = session.layout();
        MemoryRegion region = layout.regions().get(b.u8() % layout.regions().size());
        long first = region.firstPage() + b.u16() % region.pageCount();
        int count = 1 + b.u8() % (int) Math.min(64, region.endPage() - first);
        int[] digests = new int[count];
        for (int i = 0; i < count; i++) {
            crc.reset();
            crc.update(session.targetPage(first + i, layout.pageSizeBytes()));
            digests[i] = (int) crc.getValue();
        }
        if ((b.u8() & 3) == 0) {
            digests[b.u8() % count] ^= 1;
        }
        return writer.write(new VerifyFrames.Digests(first, digests));
    }

    /**
     * A record's body read as a stream of fields; past its end every field reads as zero, so that
     * any body makes a frame.
     */
    static final class Body {
        private final ByteBuffer bytes;

        Body(byte[] body) {
            this.bytes = ByteBuffer.wrap(body);
        }

        int remaining() {
            return bytes.remaining();
        }

        int u8() {
            return bytes.hasRemaining() ? Byte.toUnsignedInt(bytes.get()) : 0;
        }

        int u16() {
            return (u8() << 8) | u8();
        }

        long u64() {
            return ((long) u16() << 48) | ((long) u16() << 32) | ((long) u16() << 16) | u16();
        }

        byte[] bytes(int n) {
            byte[] b = new byte[Math.min(n, bytes.remaining())];
            bytes.get(b);
            return b;
        }

        byte[] rest() {
            return bytes(bytes.remaining());
        }
    }
}
