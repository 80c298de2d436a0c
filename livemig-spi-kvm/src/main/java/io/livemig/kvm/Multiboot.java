package io.livemig.kvm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Loads a Multiboot (version 1) kernel into guest RAM: an ELF32 executable (its PT_LOAD
 * segments at their physical addresses), or any image whose Multiboot header sets flag 16 and
 * carries the load addresses (the "a.out kludge", which is how flat binaries are loaded), and
 * writes the boot information structure the kernel finds in EBX.
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
     * Loads {@code image} into {@code ram} (guest-physical address 0 at offset 0).
     *
     * @throws IllegalArgumentException if it has no valid Multiboot header, asks for what this
     *                                  loader cannot give (video mode, modules) or does not fit
     */
    public static Loaded load(byte[] image, MemorySegment ram) {
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
        writeInfo(ram);
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

    /** The boot information: flags bit 0, mem_lower and mem_upper in KiB. */
    private static void writeInfo(MemorySegment ram) {
        MemorySegment info = ram.asSlice(INFO_ADDRESS, 116);
        info.fill((byte) 0);
        info.set(JAVA_INT, 0, 1);
        info.set(JAVA_INT, 4, 640);
        info.set(JAVA_INT, 8, (int) Math.max(0, (ram.byteSize() - (1 << 20)) / 1024));
    }
}
