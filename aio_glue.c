// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of the Rust AIO implementation (fs/aio_rs).
 *
 * Only what Rust cannot express on its own lives here: the system call
 * definitions (argument conversion, time and signal-mask handling exactly as
 * in fs/aio.c), the "aio" pseudo file system whose files back the mapped
 * completion rings, the sysctl table and the initcall.  Everything else is
 * in the Rust crate rooted at aio_core.rs.
 */

#define pr_fmt(fmt) "aio: " fmt

#include <linux/aio.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/sysctl.h>
#include <linux/time.h>
#include <linux/vmalloc.h>

#include "aio_glue.h"

#define AIO_RING_MAGIC	0xa10a10a1

static struct vfsmount *aio_mnt;

static int aio_ring_mremap(struct vm_area_struct *vma)
{
	return aio_rs_ring_mremap(vma->vm_mm, vma->vm_file, vma->vm_start,
				  vma->vm_end - vma->vm_start);
}

static const struct vm_operations_struct aio_ring_vm_ops = {
	.mremap		= aio_ring_mremap,
};

static int aio_ring_mmap(struct file *file, struct vm_area_struct *vma)
{
	int ret;

	ret = remap_vmalloc_range(vma, file->private_data, vma->vm_pgoff);
	if (ret)
		return ret;
	/* As fs/aio.c: the ring is neither inherited by fork nor growable. */
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND);
	vma->vm_ops = &aio_ring_vm_ops;
	return 0;
}

static int aio_ring_release(struct inode *inode, struct file *file)
{
	vfree(file->private_data);
	return 0;
}

static const struct file_operations aio_ring_fops = {
	.mmap		= aio_ring_mmap,
	.release	= aio_ring_release,
};

/*
 * A ring file: a pseudo-fs file named "[aio]" (so /proc/PID/maps shows the
 * ring as fs/aio.c does) whose contents are @size bytes of zeroed
 * vmalloc_user() memory, freed when the last reference to the file goes.
 */
struct file *aio_rs_ring_file_create(size_t size, void **mem)
{
	struct inode *inode;
	struct file *file;
	void *ring;

	ring = vmalloc_user(size);
	if (!ring)
		return ERR_PTR(-ENOMEM);

	inode = alloc_anon_inode(aio_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		vfree(ring);
		return ERR_CAST(inode);
	}
	inode->i_size = size;

	file = alloc_file_pseudo(inode, aio_mnt, "[aio]", O_RDWR,
				 &aio_ring_fops);
	if (IS_ERR(file)) {
		iput(inode);
		vfree(ring);
		return file;
	}
	file->private_data = ring;
	*mem = ring;
	return file;
}

/* Maps a ring file into the current process; returns the address or -errno. */
long aio_rs_ring_file_mmap(struct file *file, size_t size)
{
	struct mm_struct *mm = current->mm;
	unsigned long addr, unused;

	if (mmap_write_lock_killable(mm))
		return -EINTR;
	addr = do_mmap(file, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       EMPTY_VMA_FLAGS, 0, &unused, NULL);
	mmap_write_unlock(mm);
	if (IS_ERR_VALUE(addr))
		return -ENOMEM;
	return addr;
}

unsigned long aio_rs_nr;		/* current system wide number of aio requests */
unsigned long aio_rs_max_nr = 0x10000;	/* system wide maximum number of aio requests */

static const struct ctl_table aio_sysctls[] = {
	{
		.procname	= "aio-nr",
		.data		= &aio_rs_nr,
		.maxlen		= sizeof(aio_rs_nr),
		.mode		= 0444,
		.proc_handler	= proc_doulongvec_minmax,
	},
	{
		.procname	= "aio-max-nr",
		.data		= &aio_rs_max_nr,
		.maxlen		= sizeof(aio_rs_max_nr),
		.mode		= 0644,
		.proc_handler	= proc_doulongvec_minmax,
	},
};

static int aio_init_fs_context(struct fs_context *fc)
{
	if (!init_pseudo(fc, AIO_RING_MAGIC))
		return -ENOMEM;
	return 0;
}

static int __init aio_rs_init(void)
{
	static struct file_system_type aio_fs = {
		.name		= "aio",
		.init_fs_context = aio_init_fs_context,
		.kill_sb	= kill_anon_super,
	};

	aio_mnt = kern_mount(&aio_fs);
	if (IS_ERR(aio_mnt))
		panic("Failed to create aio fs mount.");
	if (aio_rs_init_requests())
		panic("Failed to create the aio request cache and worker pool.");
	register_sysctl_init("fs", aio_sysctls);
	pr_info("native AIO served by the Rust implementation (fs/aio_rs)\n");
	return 0;
}
device_initcall(aio_rs_init);

void exit_aio(struct mm_struct *mm)
{
	aio_rs_exit_mm(mm);
}

/*
 * Drivers (USB FunctionFS) call this for the kiocbs of reads and writes, to
 * make them cancellable by io_cancel.  The Rust side ignores kiocbs that AIO
 * did not submit (io_uring's reach here too) before it looks any further.
 */
void kiocb_set_cancel_fn(struct kiocb *iocb, kiocb_cancel_fn *cancel)
{
	aio_rs_set_cancel_fn(iocb, cancel);
}
EXPORT_SYMBOL(kiocb_set_cancel_fn);

/* ---- System calls: argument conversion as in fs/aio.c, then Rust. ---- */

SYSCALL_DEFINE2(io_setup, unsigned int, nr_events, aio_context_t __user *, ctxp)
{
	return aio_rs_setup(nr_events, ctxp, false);
}

#ifdef CONFIG_COMPAT
COMPAT_SYSCALL_DEFINE2(io_setup, unsigned int, nr_events, u32 __user *, ctx32p)
{
	return aio_rs_setup(nr_events, ctx32p, true);
}
#endif

SYSCALL_DEFINE1(io_destroy, aio_context_t, ctx)
{
	return aio_rs_destroy(ctx);
}

SYSCALL_DEFINE3(io_submit, aio_context_t, ctx_id, long, nr,
		struct iocb __user * __user *, iocbpp)
{
	return aio_rs_submit(ctx_id, nr, iocbpp, false);
}

#ifdef CONFIG_COMPAT
COMPAT_SYSCALL_DEFINE3(io_submit, compat_aio_context_t, ctx_id,
		       int, nr, compat_uptr_t __user *, iocbpp)
{
	return aio_rs_submit(ctx_id, nr, iocbpp, true);
}
#endif

SYSCALL_DEFINE3(io_cancel, aio_context_t, ctx_id, struct iocb __user *, iocb,
		struct io_event __user *, result)
{
	return aio_rs_cancel(ctx_id, iocb);
}

static long do_io_getevents(aio_context_t ctx_id, long min_nr, long nr,
			    struct io_event __user *events,
			    struct timespec64 *ts)
{
	ktime_t until = ts ? timespec64_to_ktime(*ts) : KTIME_MAX;

	return aio_rs_getevents(ctx_id, min_nr, nr, events, until);
}

/*
 * Unlike fs/aio.c, an empty result becomes EINTR only for a signal
 * (task_sigpending()), not for a task-work notification alone: our
 * buffered reads queue their next pass as task work (retry.rs), and
 * io_getevents ran it already.
 */
#ifdef CONFIG_64BIT
SYSCALL_DEFINE5(io_getevents, aio_context_t, ctx_id,
		long, min_nr,
		long, nr,
		struct io_event __user *, events,
		struct __kernel_timespec __user *, timeout)
{
	struct timespec64	ts;
	int			ret;

	if (timeout && unlikely(get_timespec64(&ts, timeout)))
		return -EFAULT;

	ret = do_io_getevents(ctx_id, min_nr, nr, events, timeout ? &ts : NULL);
	if (!ret && task_sigpending(current))
		ret = -EINTR;
	return ret;
}
#endif

/*
 * The common part of the io_pgetevents variants, once the timeout and the
 * signal-mask argument are in kernel memory: the mask is installed for the
 * wait, as pselect does.
 */
static long do_io_pgetevents(aio_context_t ctx_id, long min_nr, long nr,
			     struct io_event __user *events,
			     struct timespec64 *ts, const void __user *sigmask,
			     size_t sigsetsize, bool compat)
{
	bool interrupted;
	int ret;

#ifdef CONFIG_COMPAT
	if (compat)
		ret = set_compat_user_sigmask(sigmask, sigsetsize);
	else
#endif
		ret = set_user_sigmask(sigmask, sigsetsize);
	if (ret)
		return ret;

	ret = do_io_getevents(ctx_id, min_nr, nr, events, ts);

	interrupted = task_sigpending(current);
	restore_saved_sigmask_unless(interrupted);
	if (interrupted && !ret)
		ret = -ERESTARTNOHAND;

	return ret;
}

struct __aio_sigset {
	const sigset_t __user	*sigmask;
	size_t		sigsetsize;
};

SYSCALL_DEFINE6(io_pgetevents,
		aio_context_t, ctx_id,
		long, min_nr,
		long, nr,
		struct io_event __user *, events,
		struct __kernel_timespec __user *, timeout,
		const struct __aio_sigset __user *, usig)
{
	struct __aio_sigset	ksig = { NULL, };
	struct timespec64	ts;

	if (timeout && unlikely(get_timespec64(&ts, timeout)))
		return -EFAULT;

	if (usig && copy_from_user(&ksig, usig, sizeof(ksig)))
		return -EFAULT;

	return do_io_pgetevents(ctx_id, min_nr, nr, events, timeout ? &ts : NULL,
				ksig.sigmask, ksig.sigsetsize, false);
}

#if defined(CONFIG_COMPAT_32BIT_TIME) && !defined(CONFIG_64BIT)
SYSCALL_DEFINE6(io_pgetevents_time32,
		aio_context_t, ctx_id,
		long, min_nr,
		long, nr,
		struct io_event __user *, events,
		struct old_timespec32 __user *, timeout,
		const struct __aio_sigset __user *, usig)
{
	struct __aio_sigset	ksig = { NULL, };
	struct timespec64	ts;

	if (timeout && unlikely(get_old_timespec32(&ts, timeout)))
		return -EFAULT;

	if (usig && copy_from_user(&ksig, usig, sizeof(ksig)))
		return -EFAULT;

	return do_io_pgetevents(ctx_id, min_nr, nr, events, timeout ? &ts : NULL,
				ksig.sigmask, ksig.sigsetsize, false);
}
#endif

#if defined(CONFIG_COMPAT_32BIT_TIME)
SYSCALL_DEFINE5(io_getevents_time32, __u32, ctx_id,
		__s32, min_nr,
		__s32, nr,
		struct io_event __user *, events,
		struct old_timespec32 __user *, timeout)
{
	struct timespec64 t;
	int ret;

	if (timeout && get_old_timespec32(&t, timeout))
		return -EFAULT;

	ret = do_io_getevents(ctx_id, min_nr, nr, events, timeout ? &t : NULL);
	if (!ret && task_sigpending(current))
		ret = -EINTR;
	return ret;
}
#endif

#ifdef CONFIG_COMPAT
struct __compat_aio_sigset {
	compat_uptr_t		sigmask;
	compat_size_t		sigsetsize;
};

#if defined(CONFIG_COMPAT_32BIT_TIME)
COMPAT_SYSCALL_DEFINE6(io_pgetevents,
		compat_aio_context_t, ctx_id,
		compat_long_t, min_nr,
		compat_long_t, nr,
		struct io_event __user *, events,
		struct old_timespec32 __user *, timeout,
		const struct __compat_aio_sigset __user *, usig)
{
	struct __compat_aio_sigset ksig = { 0, };
	struct timespec64 t;

	if (timeout && get_old_timespec32(&t, timeout))
		return -EFAULT;

	if (usig && copy_from_user(&ksig, usig, sizeof(ksig)))
		return -EFAULT;

	return do_io_pgetevents(ctx_id, min_nr, nr, events, timeout ? &t : NULL,
				compat_ptr(ksig.sigmask), ksig.sigsetsize, true);
}
#endif

COMPAT_SYSCALL_DEFINE6(io_pgetevents_time64,
		compat_aio_context_t, ctx_id,
		compat_long_t, min_nr,
		compat_long_t, nr,
		struct io_event __user *, events,
		struct __kernel_timespec __user *, timeout,
		const struct __compat_aio_sigset __user *, usig)
{
	struct __compat_aio_sigset ksig = { 0, };
	struct timespec64 t;

	if (timeout && get_timespec64(&t, timeout))
		return -EFAULT;

	if (usig && copy_from_user(&ksig, usig, sizeof(ksig)))
		return -EFAULT;

	return do_io_pgetevents(ctx_id, min_nr, nr, events, timeout ? &t : NULL,
				compat_ptr(ksig.sigmask), ksig.sigsetsize, true);
}
#endif
