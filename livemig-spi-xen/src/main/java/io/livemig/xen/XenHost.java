package io.livemig.xen;

import io.livemig.xen.internal.XenCtrl;
import io.livemig.xen.internal.XenForeignMemory;
import io.livemig.xen.internal.XenToolLog;

import java.lang.foreign.MemorySegment;

/**
 * One connection to the hypervisor: a libxenctrl handle and a libxenforeignmemory handle, with
 * the tables that call through them. Both libraries log to libxentoollog's quiet logger (critical
 * messages only): their errors reach the caller as {@link XenException}s instead. Each domain handle owns its own, so that closing one never
 * disturbs another. Thread-safe (both libraries' handles are reentrant); {@link #close()} is
 * idempotent and must come after every mapping made through {@link #fmem()} was unmapped.
 */
final class XenHost implements AutoCloseable {

    private final XenCtrl ctrl;
    private final XenForeignMemory foreignMemory;
    private final MemorySegment xch;
    private final MemorySegment fmem;
    private boolean closed;

    /**
     * @throws XenException             if a handle cannot be opened (not dom0, not privileged)
     * @throws IllegalArgumentException if a library cannot be loaded
     */
    XenHost(XenLibraries libraries) {
        this.ctrl = XenCtrl.load(libraries.xenctrl());
        this.foreignMemory = XenForeignMemory.load(libraries.foreignMemory());
        MemorySegment logger = XenToolLog.load(libraries.toolLog()).quietLogger();
        this.xch = ctrl.interfaceOpen(logger);
        try {
            this.fmem = foreignMemory.open(logger);
        } catch (RuntimeException e) {
            ctrl.interfaceClose(xch);
            throw e;
        }
    }

    XenCtrl ctrl() {
        return ctrl;
    }

    XenForeignMemory foreignMemory() {
        return foreignMemory;
    }

    MemorySegment xch() {
        return xch;
    }

    MemorySegment fmem() {
        return fmem;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            foreignMemory.close(fmem);
            ctrl.interfaceClose(xch);
        }
    }
}
