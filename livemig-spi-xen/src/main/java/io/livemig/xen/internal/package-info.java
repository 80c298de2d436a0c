/**
 * The native bindings of the {@code xen:} provider: one table per library ({@link
 * io.livemig.xen.internal.XenCtrl}, {@link io.livemig.xen.internal.XenForeignMemory}, {@link
 * io.livemig.xen.internal.XenStore}), the ABI constants they use ({@link
 * io.livemig.xen.internal.XenAbi}), and the vCPU state format. Not exported.
 */
package io.livemig.xen.internal;
