package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Loads a Multiboot (version 1) kernel into guest RAM: an ELF32 executable (its PT_LOAD
 * segments at their physical addresses), or any image whose Multiboot header sets flag 16 and
 * carries the load addresses (the "a.out kludge", which is how flat binaries are loaded), and
 * writes the boot information structure the kernel finds in EBX: {@code mem_lower} and
 * {@code mem_upper} (flag 0), and a memory map (flag 6) with one available entry per RAM range —
 * conventional memory below 640 KiB, RAM from 1 MiB to the MMIO hole, and RAM from 4 GiB up — so
 * that a kernel finds memory above 4 GiB, which {@code mem_upper} cannot describe.
 *
 * <p>Every address is checked against guest RAM before a byte is copied; a malformed image is
 * refused with an {@link IllegalArgumentException} that says what is wrong.
 */
public final class Multiboot {

    /** The header magic in the image. */
    public static final int HEADER_MAGIC = 0x1BADB002;
    /** What the loader leaves in EAX. */
    public static final int BOOTLOADER_MAGIC = 0x2BADB002;
    /** Where the boot information structure goes (below 640 KiB, clear of the usual load address). */
    public static final long INFO_ADDRESS = 0x9000;
    private static final int SEARCH_BYTES = 8192;
    private static final int FLAG_PAGE_ALIGN = 1;
    private static final int FLAG_MEMORY_INFO = 1 << 1;
    private static final int FLAG_VIDEO = 1 << 2;
    private static final int FLAG_ADDRESSES = 1 << 16;
    private static final int INFO_FLAG_MEMORY = 1;
    private static final int INFO_FLAG_MMAP = 1 << 6;
    /** The memory map follows the boot information in the same page. */
    private static final long MMAP_ADDRESS = INFO_ADDRESS + 128;
    private static final int MMAP_ENTRY_BYTES = 24;
    private static final int MMAP_AVAILABLE = 1;
    private static final long LOWER_MEMORY_END = 640L << 10;
    private static final long UPPER_MEMORY_START = 1L << 20;

    /**
     * What was loaded.
     *
     * @param entry       the entry point (EIP)
     * @param infoAddress the boot information's address (EBX)
     * @param loadStart   the first byte the image occupies
     * @param loadEnd     one past the last byte (bss included)
     */
    public record Loaded(long entry, long infoAddress, long loadStart, long loadEnd) {
    }

    private Multiboot() {
    }

    /**
     * Loads {@code image} into {@code ram}, one contiguous range of RAM from guest-physical 0.
     *
     * @param image the kernel's ELF bytes
     * @param ram guest RAM from guest-physical 0
     * @return where the kernel was loaded and the Multiboot information put
     * @throws IllegalArgumentException as {@link #load(byte[], MemorySegment, MemoryLayout)}
     */
    public static Loaded load(byte[] image, MemorySegment ram) {
        return load(image, ram, MemoryLayout.contiguous(4096, ram.byteSize() / 4096 * 4096));
    }

    /**
     * Loads {@code image} into guest RAM shaped as {@code layout}.
     *
     * @param image  the kernel's ELF bytes
     * @param ram    guest-physical space: address {@code a} at offset {@code a}, at least
     *               {@code layout.pageSpan()} pages (only the layout's regions are written)
     * @param layout the RAM regions; the first must start at 0, and the image must fit in it
     *               below 4 GiB; every region is described in the memory map
     * @return where the kernel was loaded and the Multiboot information put
     * @throws IllegalArgumentException if it has no valid Multiboot header, asks for what this
     *                                  loader cannot give (video mode, modules) or does not fit
     */
    public static Loaded load(byte[] image, MemorySegment ram, MemoryLayout layout) {
        MemoryRegion first = layout.regions().get(0);
        if (first.firstPage() != 0) {
            throw new IllegalArgumentException("a Multiboot guest needs RAM from address 0, not " + layout.regions());
        }
        if (ram.byteSize() < layout.pageSpan() * layout.pageSizeBytes()) {
            throw new IllegalArgumentException("guest-physical space of " + ram.byteSize() + " bytes is smaller than "
                    + "the layout " + layout.regions());
        }
        // Every address a Multiboot kernel is given is 32-bit: what it is loaded into is the first region.
        MemorySegment low = ram.asSlice(0, Math.min(first.endPage() * layout.pageSizeBytes(), 1L << 32));
        return load(image, low, ram, layout);
    }

    private static Loaded load(byte[] image, MemorySegment ram, MemorySegment space, MemoryLayout layout) {
        ByteBuffer in = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        int header = -1;
        for (int at = 0; at + 12 <= Math.min(image.length, SEARCH_BYTES); at += 4) {
            if (in.getInt(at) == HEADER_MAGIC && in.getInt(at) + in.getInt(at + 4) + in.getInt(at + 8) == 0) {
                header = at;
                break;
            }
        }
        if (header < 0) {
            throw new IllegalArgumentException("no Multiboot header (magic 0x1BADB002 with a valid checksum) in the "
                    + "first 8 KiB");
        }
        int flags = in.getInt(header + 4);
        int unknown = flags & 0xFFFF & ~(FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO);
        if (unknown != 0) {
            throw new IllegalArgumentException("the kernel requires Multiboot features 0x" + Integer.toHexString(unknown)
                    + " this loader does not know");
        }
        Loaded loaded;
        if ((flags & FLAG_ADDRESSES) != 0) {
            loaded = loadByAddresses(in, header, ram);
        } else if (image.length >= 52 && in.getInt(0) == 0x464c457f) {
            loaded = loadElf(in, ram);
        } else {
            throw new IllegalArgumentException("the image is not ELF and its Multiboot header has no load addresses "
                    + "(flag 16)");
        }
        writeInfo(space, layout);
        return loaded;
    }

    private static Loaded loadByAddresses(ByteBuffer in, int header, MemorySegment ram) {
        if (in.limit() < header + 32) {
            throw new IllegalArgumentException("the Multiboot header's address fields are cut short");
        }
        long headerAddr = Integer.toUnsignedLong(in.getInt(header + 12));
        long loadAddr = Integer.toUnsignedLong(in.getInt(header + 16));
        long loadEndAddr = Integer.toUnsignedLong(in.getInt(header + 20));
        long bssEndAddr = Integer.toUnsignedLong(in.getInt(header + 24));
        long entry = Integer.toUnsignedLong(in.getInt(header + 28));
        if (loadAddr > headerAddr || headerAddr - loadAddr > header) {
            throw new IllegalArgumentException("load_addr 0x" + Long.toHexString(loadAddr) + " is not at or before the "
                    + "header's address 0x" + Long.toHexString(headerAddr) + " within the file");
        }
        long fileOffset = header - (headerAddr - loadAddr);
        long fileBytes = loadEndAddr == 0 ? in.limit() - fileOffset : loadEndAddr - loadAddr;
        if (loadEndAddr != 0 && loadEndAddr < loadAddr || fileBytes > in.limit() - fileOffset) {
            throw new IllegalArgumentException("load_end_addr 0x" + Long.toHexString(loadEndAddr)
                    + " does not fit the file");
        }
        long end = loadAddr + fileBytes;
        long bssEnd = bssEndAddr == 0 ? end : bssEndAddr;
        if (bssEnd < end) {
            throw new IllegalArgumentException("bss_end_addr 0x" + Long.toHexString(bssEndAddr) + " is before the end "
                    + "of the loaded image");
        }
        checkInRam(ram, loadAddr, bssEnd, "the image");
        if (entry < loadAddr || entry >= end) {
            throw new IllegalArgumentException("entry_addr 0x" + Long.toHexString(entry) + " is outside the loaded image");
        }
        MemorySegment.copy(in.array(), (int) fileOffset, ram, JAVA_BYTE, loadAddr, (int) fileBytes);
        ram.asSlice(end, bssEnd - end).fill((byte) 0);
        return new Loaded(entry, INFO_ADDRESS, loadAddr, bssEnd);
    }

    private static Loaded loadElf(ByteBuffer in, MemorySegment ram) {
        if (in.get(4) != 1 || in.get(5) != 1) {
            throw new IllegalArgumentException("a Multiboot ELF kernel must be ELF32 little-endian");
        }
        if (in.getShort(16) != 2 || in.getShort(18) != 3) {
            throw new IllegalArgumentException("not an i386 executable (e_type " + in.getShort(16) + ", e_machine "
                    + in.getShort(18) + ")");
        }
        long entry = Integer.toUnsignedLong(in.getInt(24));
        long phoff = Integer.toUnsignedLong(in.getInt(28));
        int phentsize = Short.toUnsignedInt(in.getShort(42));
        int phnum = Short.toUnsignedInt(in.getShort(44));
        if (phentsize < 32 || phoff + (long) phnum * phentsize > in.limit()) {
            throw new IllegalArgumentException("program headers outside the file");
        }
        long start = Long.MAX_VALUE;
        long end = 0;
        boolean entryLoaded = false;
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + (long) i * phentsize);
            if (in.getInt(ph) != 1) { // PT_LOAD
                continue;
            }
            long offset = Integer.toUnsignedLong(in.getInt(ph + 4));
            long paddr = Integer.toUnsignedLong(in.getInt(ph + 12));
            long filesz = Integer.toUnsignedLong(in.getInt(ph + 16));
            long memsz = Integer.toUnsignedLong(in.getInt(ph + 20));
            if (filesz > memsz || offset + filesz > in.limit()) {
                throw new IllegalArgumentException("segment " + i + " lies outside the file");
            }
            checkInRam(ram, paddr, paddr + memsz, "segment " + i);
            MemorySegment.copy(in.array(), (int) offset, ram, JAVA_BYTE, paddr, (int) filesz);
            ram.asSlice(paddr + filesz, memsz - filesz).fill((byte) 0);
            start = Math.min(start, paddr);
            end = Math.max(end, paddr + memsz);
            entryLoaded |= entry >= paddr && entry < paddr + memsz;
        }
        if (end == 0) {
            throw new IllegalArgumentException("the ELF kernel has no loadable segment");
        }
        if (!entryLoaded) {
            throw new IllegalArgumentException("the entry point 0x" + Long.toHexString(entry) + " is in no segment");
        }
        return new Loaded(entry, INFO_ADDRESS, start, end);
    }

    private static void checkInRam(MemorySegment ram, long from, long to, String what) {
        if (from < 0x1000 || to > ram.byteSize() || from > to
                || from < INFO_ADDRESS + 0x1000 && to > INFO_ADDRESS) {
            throw new IllegalArgumentException(what + " [0x" + Long.toHexString(from) + ", 0x" + Long.toHexString(to)
                    + ") is not inside guest RAM above 4 KiB and clear of the boot information at 0x"
                    + Long.toHexString(INFO_ADDRESS));
        }
    }

    /**
     * The boot information: flags bits 0 and 6; mem_lower and mem_upper in KiB (upper: RAM from
     * 1 MiB to the first hole); the memory map, each entry {@code size, base_addr, length, type}
     * with {@code size} not counting itself.
     */
    private static void writeInfo(MemorySegment ram, MemoryLayout layout) {
        long pageBytes = layout.pageSizeBytes();
        long lowEnd = Math.min(layout.regions().get(0).endPage() * pageBytes, 1L << 32);
        List<long[]> ranges = new ArrayList<>();
        ranges.add(new long[] {0, Math.min(lowEnd, LOWER_MEMORY_END)});
        if (lowEnd > UPPER_MEMORY_START) {
            ranges.add(new long[] {UPPER_MEMORY_START, lowEnd - UPPER_MEMORY_START});
        }
        for (MemoryRegion region : layout.regions().subList(1, layout.regions().size())) {
            ranges.add(new long[] {region.firstPage() * pageBytes, region.pageCount() * pageBytes});
        }
        if (MMAP_ADDRESS + (long) ranges.size() * MMAP_ENTRY_BYTES > INFO_ADDRESS + 0x1000) {
            throw new IllegalArgumentException("a layout of " + layout.regions().size()
                    + " regions does not fit the boot information page");
        }
        MemorySegment info = ram.asSlice(INFO_ADDRESS, 0x1000);
        info.fill((byte) 0);
        info.set(JAVA_INT, 0, INFO_FLAG_MEMORY | INFO_FLAG_MMAP);
        info.set(JAVA_INT, 4, (int) (Math.min(lowEnd, LOWER_MEMORY_END) / 1024));
        info.set(JAVA_INT, 8, (int) Math.max(0, (lowEnd - UPPER_MEMORY_START) / 1024));
        info.set(JAVA_INT, 44, ranges.size() * MMAP_ENTRY_BYTES);
        info.set(JAVA_INT, 48, (int) MMAP_ADDRESS);
        long at = MMAP_ADDRESS - INFO_ADDRESS;
        for (long[] range : ranges) {
            info.set(JAVA_INT_UNALIGNED, at, MMAP_ENTRY_BYTES - 4);
            info.set(JAVA_LONG_UNALIGNED, at + 4, range[0]);
            info.set(JAVA_LONG_UNALIGNED, at + 12, range[1]);
            info.set(JAVA_INT_UNALIGNED, at + 20, MMAP_AVAILABLE);
            at += MMAP_ENTRY_BYTES;
        }
    }

    /**
     * Sets {@code vcpu} to enter a loaded kernel as the Multiboot specification says: flat 32-bit
     * protected mode at the entry point, paging off, interrupts off, EAX the bootloader magic and
     * EBX the boot information. The vCPU must not be running.
     */
    static void enter(KvmVcpu vcpu, Loaded loaded) {
        long eip = loaded.entry();
        int eax = BOOTLOADER_MAGIC;
        long ebx = loaded.infoAddress();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(KvmAbi.SREGS_BYTES, 8);
            vcpu.get(KvmAbi.GET_SREGS, sregs, "KVM_GET_SREGS");
            flatSegment(sregs, KvmAbi.SREGS_CS, 0x08, 0xB);
            for (int seg : new int[] {KvmAbi.SREGS_DS, KvmAbi.SREGS_ES, KvmAbi.SREGS_FS, KvmAbi.SREGS_GS,
                    KvmAbi.SREGS_SS}) {
                flatSegment(sregs, seg, 0x10, 0x3);
            }
            long cr0 = sregs.get(JAVA_LONG, KvmAbi.SREGS_CR0);
            sregs.set(JAVA_LONG, KvmAbi.SREGS_CR0, (cr0 | 1L) & ~(1L << 31)); // PE on, PG off
            sregs.set(JAVA_LONG, KvmAbi.SREGS_EFER, 0L);
            vcpu.set(KvmAbi.SET_SREGS, sregs, "KVM_SET_SREGS");
            MemorySegment regs = a.allocate(KvmAbi.REGS_BYTES, 8);
            regs.set(JAVA_LONG, KvmAbi.REGS_RAX, Integer.toUnsignedLong(eax));
            regs.set(JAVA_LONG, KvmAbi.REGS_RBX, ebx);
            regs.set(JAVA_LONG, KvmAbi.REGS_RIP, eip);
            regs.set(JAVA_LONG, KvmAbi.REGS_RFLAGS, 0x2L); // IF, VM off; bit 1 is always set
            vcpu.set(KvmAbi.SET_REGS, regs, "KVM_SET_REGS");
        }
    }

    private static void flatSegment(MemorySegment sregs, int at, int selector, int type) {
        sregs.set(JAVA_LONG, at + KvmAbi.SEGMENT_BASE, 0L);
        sregs.set(JAVA_INT, at + KvmAbi.SEGMENT_LIMIT, 0xFFFFFFFF);
        sregs.set(JAVA_SHORT, at + KvmAbi.SEGMENT_SELECTOR, (short) selector);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_TYPE, (byte) type);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_PRESENT, (byte) 1);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_DPL, (byte) 0);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_DB, (byte) 1);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_S, (byte) 1);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_L, (byte) 0);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_G, (byte) 1);
        sregs.set(JAVA_BYTE, at + KvmAbi.SEGMENT_UNUSABLE, (byte) 0);
    }
}
