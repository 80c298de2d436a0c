/**
 * The {@code xen:} provider: Xen HVM domains migrated by livemig through libxenctrl and
 * libxenforeignmemory, bound with java.lang.foreign. {@link io.livemig.xen.XenProvider} is the
 * entry point; {@link io.livemig.xen.XenDomain} is one domain on either side of a migration.
 */
package io.livemig.xen;
