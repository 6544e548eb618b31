// SPDX-License-Identifier: GPL-2.0

//! `IOCB_CMD_FSYNC` and `IOCB_CMD_FDSYNC` (fs/aio.c's `aio_fsync`): the sync
//! runs from the system workqueue with the submitter's credentials.

use crate::abi::Iocb;
use crate::kiocb::{self, AioKiocb, Op};
use kernel::cred::Credential;
use kernel::fs::File;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;

/// The credentials and the kind of an fsync request.
pub(crate) struct FsyncState {
    creds: Option<ARef<Credential>>,
    datasync: bool,
}

impl FsyncState {
    /// fs/aio.c's checks of an fsync iocb, then a copy of the submitter's
    /// credentials; nothing for other opcodes.
    pub(crate) fn new(op: Op, file: &File, iocb: &Iocb) -> Result<Self> {
        let Op::Fsync { datasync } = op else {
            return Ok(Self {
                creds: None,
                datasync: false,
            });
        };
        if iocb.aio_buf != 0
            || iocb.aio_offset != 0
            || iocb.aio_nbytes != 0
            || iocb.aio_rw_flags != 0
        {
            return Err(EINVAL);
        }
        if !file.has_fsync() {
            return Err(EINVAL);
        }
        Ok(Self {
            creds: Some(Credential::prepare()?),
            datasync,
        })
    }
}

/// Queues the sync; the work holds the operation's reference.
pub(crate) fn issue(req: Arc<AioKiocb>) -> Result {
    // The request's work item is used by nothing else for an fsync, so it
    // cannot be queued already.
    let _ = kiocb::work_queue().enqueue(req);
    Ok(())
}

/// The work: `vfs_fsync` as the submitter.
pub(crate) fn run(req: Arc<AioKiocb>) {
    let state = req.fsync();
    let Some(creds) = state.creds.as_ref() else {
        return;
    };
    let ret = creds.with_override(|| req.file().fsync(state.datasync));
    req.finish(ret.map_or_else(|e| e.to_errno().into(), |()| 0));
}
