//! Wire types shared by the Wharf broker and its clients.
