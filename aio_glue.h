/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between the C glue (aio_glue.c) and the Rust crate
 * (aio_core.rs).  bindgen reads this header (rust/bindings/bindings_helper.h),
 * so Rust calls the C half through these very declarations, and `#[export]`
 * checks each Rust function below against its declaration: a mismatch fails
 * the build.
 */
#ifndef _FS_AIO_RS_GLUE_H
#define _FS_AIO_RS_GLUE_H

#include <linux/aio.h>
#include <linux/ktime.h>
#include <linux/types.h>

struct file;
struct iocb;
struct io_event;
struct mm_struct;

/* Implemented in C (aio_glue.c), called from Rust. */
struct file *aio_rs_ring_file_create(size_t size, void **mem);
long aio_rs_ring_file_mmap(struct file *file, size_t size);
extern unsigned long aio_rs_nr;
extern unsigned long aio_rs_max_nr;

/* Implemented in Rust, called from C.  They return 0/count or -errno. */
int aio_rs_init_requests(void);
long aio_rs_setup(unsigned int nr_events, void __user *ctxp, bool compat);
long aio_rs_destroy(unsigned long ctx_id);
long aio_rs_submit(unsigned long ctx_id, long nr, void __user *iocbpp,
		   bool compat);
long aio_rs_cancel(unsigned long ctx_id, struct iocb __user *iocb);
long aio_rs_getevents(unsigned long ctx_id, long min_nr, long nr,
		      struct io_event __user *events, ktime_t until);
int aio_rs_ring_mremap(struct mm_struct *mm, struct file *file,
		       unsigned long start, unsigned long len);
void aio_rs_exit_mm(struct mm_struct *mm);
void aio_rs_set_cancel_fn(struct kiocb *iocb, kiocb_cancel_fn *cancel);

#endif /* _FS_AIO_RS_GLUE_H */
