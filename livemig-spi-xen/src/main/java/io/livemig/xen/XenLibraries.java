package io.livemig.xen;

import io.livemig.xen.internal.XenCtrl;
import io.livemig.xen.internal.XenForeignMemory;
import io.livemig.xen.internal.XenStore;
import io.livemig.xen.internal.XenToolLog;

import java.util.Objects;

/**
 * Which libraries the {@code xen:} provider binds: by default the system's Xen 4.17 libraries,
 * found by soname; each can be pointed at another file with a system property (or, in code, by
 * constructing the provider with an instance of this record). The contract test points all three
 * at one C library that simulates a domain.
 *
 * @param xenctrl       libxenctrl: a soname or a path ({@value XenCtrl#SONAME} by default)
 * @param foreignMemory libxenforeignmemory ({@value XenForeignMemory#SONAME} by default)
 * @param xenstore      libxenstore, used only to find a domain by name ({@value XenStore#SONAME} by default)
 * @param toolLog       libxentoollog, for the logger the others write to ({@value XenToolLog#SONAME} by default)
 */
public record XenLibraries(String xenctrl, String foreignMemory, String xenstore, String toolLog) {

    /** System property naming the libxenctrl to load instead of {@value XenCtrl#SONAME}. */
    public static final String XENCTRL_PROPERTY = "livemig.xen.libxenctrl";
    /** System property naming the libxenforeignmemory to load instead of {@value XenForeignMemory#SONAME}. */
    public static final String FOREIGN_MEMORY_PROPERTY = "livemig.xen.libxenforeignmemory";
    /** System property naming the libxenstore to load instead of {@value XenStore#SONAME}. */
    public static final String XENSTORE_PROPERTY = "livemig.xen.libxenstore";
    /** System property naming the libxentoollog to load instead of {@value XenToolLog#SONAME}. */
    public static final String TOOLLOG_PROPERTY = "livemig.xen.libxentoollog";

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a blank name
     */
    public XenLibraries {
        for (String name : new String[] {xenctrl, foreignMemory, xenstore, toolLog}) {
            if (Objects.requireNonNull(name, "library").isBlank()) {
                throw new IllegalArgumentException("a library name must not be blank");
            }
        }
    }

    /** {@return the system's Xen 4.17 libraries, by soname} */
    public static XenLibraries system() {
        return new XenLibraries(XenCtrl.SONAME, XenForeignMemory.SONAME, XenStore.SONAME, XenToolLog.SONAME);
    }

    /** {@return the system's libraries, except where a {@code livemig.xen.lib*} property names another} */
    public static XenLibraries fromSystemProperties() {
        return new XenLibraries(System.getProperty(XENCTRL_PROPERTY, XenCtrl.SONAME),
                System.getProperty(FOREIGN_MEMORY_PROPERTY, XenForeignMemory.SONAME),
                System.getProperty(XENSTORE_PROPERTY, XenStore.SONAME),
                System.getProperty(TOOLLOG_PROPERTY, XenToolLog.SONAME));
    }

    /**
     * {@return all four loaded from {@code file} (a library exporting every function, as the test shim does)}
     *
     * @param file the library's path or soname
     */
    public static XenLibraries allFrom(String file) {
        return new XenLibraries(file, file, file, file);
    }
}
