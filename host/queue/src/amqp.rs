use crate::QueueError; // placeholder replaced by the AMQP backend
