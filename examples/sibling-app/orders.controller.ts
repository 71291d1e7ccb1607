import { Controller, Get } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { type AuthenticatedUser, CurrentUser, Public, Roles } from '@gatehouse/client';

/** A sibling service's handlers: every one needs a gatehouse token unless @Public(). */
@Controller()
export class OrdersController {
  @Public()
  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Get('orders')
  myOrders(@CurrentUser() user: AuthenticatedUser): { userId: string; orders: string[] } {
    return { userId: user.userId, orders: [] };
  }

  @Roles('admin')
  @Get('admin/report')
  report(@CurrentUser() user: AuthenticatedUser): { reportBy: string } {
    return { reportBy: user.userId };
  }

  /** Over RPC the caller puts its token in the payload: `{ accessToken, ... }`. */
  @MessagePattern('orders.list')
  list(@CurrentUser() user: AuthenticatedUser): { userId: string; orders: string[] } {
    return { userId: user.userId, orders: [] };
  }

  @Roles('admin')
  @MessagePattern('orders.purge')
  purge(@CurrentUser() user: AuthenticatedUser): { purgedBy: string } {
    return { purgedBy: user.userId };
  }
}
